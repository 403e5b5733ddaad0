//! The console's audit log: append-only, one row per thing a person did.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "console_audit")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: TimeDateTimeWithTimeZone,
    pub user_id: Option<String>,
    pub username: String,
    pub action: crate::store::console::AuditAction,
    pub payment_id: Option<String>,
    pub noti_id: Option<i64>,
    pub detail: String,
    pub remote_addr: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
