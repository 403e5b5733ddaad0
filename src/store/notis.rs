//! Queries on the Noti Innopay sent. Every Noti is stored as it arrived before paydesk acts on it, and
//! then settled with what paydesk made of it, so none is ever lost, whatever happens in between.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entities::innopay_noti;
use super::{Store, StoreError};

pub use innopay_noti::Model as NotiRow;

/// A Noti as received: the identifying fields, and all fields as JSON.
#[derive(Debug, Clone)]
pub struct ReceivedNoti {
    pub remote_addr: Option<String>,
    pub mid: Option<String>,
    pub tid: Option<String>,
    pub moid: Option<String>,
    pub status: Option<String>,
    pub pay_method: Option<String>,
    pub fields: String,
}

/// What paydesk made of a Noti.
#[derive(Debug, Clone)]
pub struct NotiVerdict<'a> {
    pub outcome: &'a str,
    pub note: &'a str,
    pub flagged: bool,
    pub payment_id: Option<&'a str>,
}

impl Store {
    /// Stores a Noti before anything is done with it; returns its id.
    pub async fn insert_noti(&self, noti: ReceivedNoti) -> Result<i64, StoreError> {
        let row = innopay_noti::ActiveModel {
            received_at: Set(self.now()),
            remote_addr: Set(noti.remote_addr),
            mid: Set(noti.mid),
            tid: Set(noti.tid),
            moid: Set(noti.moid),
            status: Set(noti.status),
            pay_method: Set(noti.pay_method),
            payment_id: Set(None),
            outcome: Set("received".into()),
            note: Set(String::new()),
            flagged: Set(false),
            fields: Set(noti.fields),
            ..Default::default()
        }
        .insert(self.db())
        .await?;
        Ok(row.id)
    }

    pub async fn settle_noti(&self, id: i64, verdict: NotiVerdict<'_>) -> Result<(), StoreError> {
        innopay_noti::Entity::update_many()
            .col_expr(innopay_noti::Column::Outcome, Expr::value(verdict.outcome))
            .col_expr(innopay_noti::Column::Note, Expr::value(verdict.note))
            .col_expr(innopay_noti::Column::Flagged, Expr::value(verdict.flagged))
            .col_expr(
                innopay_noti::Column::PaymentId,
                Expr::value(verdict.payment_id.map(str::to_string)),
            )
            .filter(innopay_noti::Column::Id.eq(id))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// The most recent Noti, newest first; only flagged ones when `flagged_only`.
    pub async fn notis(&self, flagged_only: bool, limit: u64) -> Result<Vec<NotiRow>, StoreError> {
        let mut query = innopay_noti::Entity::find();
        if flagged_only {
            query = query.filter(innopay_noti::Column::Flagged.eq(true));
        }
        Ok(query
            .order_by_desc(innopay_noti::Column::Id)
            .limit(limit)
            .all(self.db())
            .await?)
    }
}
