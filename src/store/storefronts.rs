//! Queries on storefronts and their API keys.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    TransactionTrait,
};
use time::OffsetDateTime;

use super::entities::{api_key, storefront};
use super::{Store, StoreError};

pub use api_key::Model as ApiKeyRow;
pub use storefront::Model as StorefrontRow;

impl Store {
    /// Creates a storefront with its first API key, atomically.
    pub async fn insert_storefront(
        &self,
        row: StorefrontRow,
        key: ApiKeyRow,
    ) -> Result<(), StoreError> {
        let txn = self.db().begin().await?;
        row.into_active_model().insert(&txn).await?;
        key.into_active_model().insert(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn storefront(&self, id: &str) -> Result<Option<StorefrontRow>, StoreError> {
        Ok(storefront::Entity::find_by_id(id).one(self.db()).await?)
    }

    pub async fn storefronts(&self) -> Result<Vec<StorefrontRow>, StoreError> {
        Ok(storefront::Entity::find()
            .order_by_asc(storefront::Column::CreatedAt)
            .all(self.db())
            .await?)
    }

    /// The storefront owning an unrevoked key with this hash.
    pub async fn storefront_by_key_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<(ApiKeyRow, StorefrontRow)>, StoreError> {
        let Some(key) = api_key::Entity::find()
            .filter(api_key::Column::KeyHash.eq(key_hash))
            .filter(api_key::Column::RevokedAt.is_null())
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        let owner = self.storefront(&key.storefront_id).await?;
        Ok(owner.map(|s| (key, s)))
    }

    pub async fn find_api_key_by_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<ApiKeyRow>, StoreError> {
        Ok(api_key::Entity::find()
            .filter(api_key::Column::KeyHash.eq(key_hash))
            .one(self.db())
            .await?)
    }

    /// Adds a key and revokes the storefront's older keys (only those with the new key's label when
    /// `same_label_only`) except the `keep_recent` newest, atomically, so a rotation never leaves a
    /// moment with no valid key.
    pub async fn replace_api_key(
        &self,
        key: ApiKeyRow,
        keep_recent: u64,
        same_label_only: bool,
    ) -> Result<(), StoreError> {
        let txn = self.db().begin().await?;
        let now = OffsetDateTime::now_utc();
        let mut older = api_key::Entity::find()
            .filter(api_key::Column::StorefrontId.eq(key.storefront_id.clone()))
            .filter(api_key::Column::RevokedAt.is_null());
        if same_label_only {
            older = older.filter(api_key::Column::Label.eq(key.label.clone()));
        }
        let older = older
            .order_by_desc(api_key::Column::CreatedAt)
            .all(&txn)
            .await?;
        for old in older.into_iter().skip(keep_recent as usize) {
            let mut active = old.into_active_model();
            active.revoked_at = sea_orm::Set(Some(now));
            active.update(&txn).await?;
        }
        key.into_active_model().insert(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Makes `secret` the signing secret and keeps the current one as the previous secret until
    /// `previous_until`, in one statement (the old value is copied by the database, so a concurrent
    /// rotation cannot leave a secret nobody was told about as the only one). `None`: no such storefront.
    pub async fn rotate_signing_secret(
        &self,
        id: &str,
        secret: &str,
        previous_until: OffsetDateTime,
    ) -> Result<Option<StorefrontRow>, StoreError> {
        let result = storefront::Entity::update_many()
            .col_expr(
                storefront::Column::PreviousSigningSecret,
                Expr::col(storefront::Column::SigningSecret),
            )
            .col_expr(
                storefront::Column::PreviousSigningSecretExpiresAt,
                Expr::value(previous_until),
            )
            .col_expr(storefront::Column::SigningSecret, Expr::value(secret))
            .col_expr(
                storefront::Column::UpdatedAt,
                Expr::value(OffsetDateTime::now_utc()),
            )
            .filter(storefront::Column::Id.eq(id))
            .exec(self.db())
            .await?;
        if result.rows_affected == 0 {
            return Ok(None);
        }
        self.storefront(id).await
    }
}
