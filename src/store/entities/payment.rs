use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub storefront_id: String,
    pub order_id: String,
    pub mode: crate::domain::Mode,
    pub mid: String,
    pub goods_name: String,
    /// What `amount`, `tax_free_amount` and the cancelled amounts count in: won, or US cents.
    pub currency: crate::domain::Currency,
    pub amount: i64,
    pub tax_free_amount: i64,
    /// The method paid with: for a checkout offering several, the first until the shopper chose.
    pub pay_method: crate::domain::PayMethod,
    /// The methods the shopper may choose from, when the checkout offers several.
    pub offered_pay_methods: Option<crate::domain::PayMethods>,
    pub buyer_name: String,
    pub buyer_tel: String,
    pub buyer_email: String,
    pub success_url: Option<String>,
    pub fail_url: Option<String>,
    pub mall_reserved: Option<String>,
    /// Where a shopper paying in the storefront's own app goes back to (goPay `appScheme`).
    pub app_scheme: Option<String>,
    pub status: crate::domain::PaymentStatus,
    pub version: i32,
    pub expires_at: TimeDateTimeWithTimeZone,
    pub tid: Option<String>,
    pub approval_number: Option<String>,
    pub approved_at: Option<TimeDateTimeWithTimeZone>,
    /// The card, the virtual account: one typed value per method.
    pub method_details: Option<crate::domain::MethodDetails>,
    pub cash_receipt: Option<crate::domain::CashReceipt>,
    pub receipt_url: Option<String>,
    pub cancelled_amount: i64,
    pub pending_cancel_amount: Option<i64>,
    pub failure_code: Option<crate::domain::FailureCode>,
    pub failure_message: Option<String>,
    pub flagged: bool,
    pub flag_reason: Option<String>,
    pub gateway_answer: Option<String>,
    pub reconcile_after: Option<TimeDateTimeWithTimeZone>,
    pub reconcile_attempts: i32,
    pub created_at: TimeDateTimeWithTimeZone,
    pub updated_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
