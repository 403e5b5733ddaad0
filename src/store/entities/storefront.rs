use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "storefronts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub mode: String,
    pub innopay_mid: String,
    pub merchant_key: String,
    pub cancel_password: String,
    pub signing_secret: String,
    pub previous_signing_secret: Option<String>,
    pub previous_signing_secret_expires_at: Option<TimeDateTimeWithTimeZone>,
    pub signing_secret_created_at: Option<TimeDateTimeWithTimeZone>,
    /// The methods its checkouts may offer; `None`: every method paydesk takes.
    pub pay_methods: Option<crate::domain::PayMethods>,
    pub shop_url: Option<String>,
    pub created_at: TimeDateTimeWithTimeZone,
    pub updated_at: TimeDateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
