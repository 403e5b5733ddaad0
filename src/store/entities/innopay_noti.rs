use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "innopay_notis")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub received_at: TimeDateTimeWithTimeZone,
    pub remote_addr: Option<String>,
    pub mid: Option<String>,
    pub tid: Option<String>,
    pub moid: Option<String>,
    pub status: Option<String>,
    pub pay_method: Option<String>,
    pub payment_id: Option<String>,
    pub outcome: String,
    pub note: String,
    pub flagged: bool,
    pub fields: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
