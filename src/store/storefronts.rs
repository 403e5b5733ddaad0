//! Queries on storefronts and their API keys. The credential columns (merchant key, cancel password,
//! signing secrets) hold only ciphertext (`crate::secrets`): rows are encrypted on the way in and
//! decrypted on the way out, so this file is the only place that sees the stored form.

use std::collections::BTreeMap;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    TransactionTrait,
};
use time::OffsetDateTime;

use super::entities::{api_key, storefront};
use super::{Store, StoreError};
use crate::secrets::{SecretsError, stored_key_id};

pub use api_key::Model as ApiKeyRow;
/// A storefront as the store takes and hands it out: credentials in plaintext.
pub use storefront::Model as StorefrontRow;

/// The associated data a stored secret is bound to, so it does not decrypt in another row or column.
/// Both signing columns share `signing_secret`: a rotation moves the current ciphertext into
/// `previous_signing_secret` inside the database (`rotate_signing_secret`).
fn place(column: &str, id: &str) -> String {
    format!("storefronts.{column}:{id}")
}

/// Every secret column of a row, with the name its associated data uses and its stored value.
fn secret_columns(row: &StorefrontRow) -> [(storefront::Column, &'static str, Option<&String>); 4] {
    use storefront::Column::*;
    [
        (MerchantKey, "merchant_key", Some(&row.merchant_key)),
        (
            CancelPassword,
            "cancel_password",
            Some(&row.cancel_password),
        ),
        (SigningSecret, "signing_secret", Some(&row.signing_secret)),
        (
            PreviousSigningSecret,
            "signing_secret",
            row.previous_signing_secret.as_ref(),
        ),
    ]
}

/// Replaces every secret of a row by `f(associated data, value)`.
fn map_secrets(
    row: &mut StorefrontRow,
    mut f: impl FnMut(&str, &str) -> Result<String, StoreError>,
) -> Result<(), StoreError> {
    let id = row.id.clone();
    let values = [
        ("merchant_key", &mut row.merchant_key),
        ("cancel_password", &mut row.cancel_password),
        ("signing_secret", &mut row.signing_secret),
    ];
    let previous = row
        .previous_signing_secret
        .as_mut()
        .map(|p| ("signing_secret", p));
    for (name, value) in values.into_iter().chain(previous) {
        *value = f(&place(name, &id), value)?;
    }
    Ok(())
}

/// Which stored secrets `reencrypt_secrets` rewrites.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reencrypt {
    /// None: only check that every one decrypts, and count them.
    Nothing,
    /// Those stored in plaintext, from before encryption (done at every start-up).
    Plaintext,
    /// Every one not under the primary key (`paydesk secrets rotate`).
    NotUnderPrimary,
}

/// What `reencrypt_secrets` found and did.
#[derive(Debug, Default)]
pub struct SecretsReport {
    /// Values this run re-encrypted.
    pub reencrypted: u64,
    /// Stored values by the key id they are under now (`plaintext` for unencrypted ones).
    pub by_key: BTreeMap<String, u64>,
}

/// Passes over the table before `reencrypt_secrets` gives up on values that keep changing.
const REENCRYPT_PASSES: usize = 10;

impl Store {
    fn sealed(&self, mut row: StorefrontRow) -> Result<StorefrontRow, StoreError> {
        let secrets = self.secret_keys()?;
        map_secrets(
            &mut row,
            |here, plaintext| Ok(secrets.seal(here, plaintext)),
        )?;
        Ok(row)
    }

    fn opened(&self, mut row: StorefrontRow) -> Result<StorefrontRow, StoreError> {
        let secrets = self.secret_keys()?;
        map_secrets(&mut row, |here, stored| Ok(secrets.open(here, stored)?))?;
        Ok(row)
    }

    /// Checks that every stored secret decrypts and re-encrypts those `which` names, each with an
    /// update conditional on the value read, so a write made meanwhile (a rotation of the signing
    /// secret, another instance doing the same) wins and is looked at again in the next pass. Safe to
    /// run on several instances at once.
    pub async fn reencrypt_secrets(&self, which: Reencrypt) -> Result<SecretsReport, StoreError> {
        let secrets = self.secret_keys()?;
        let mut reencrypted = 0;
        for _ in 0..REENCRYPT_PASSES {
            let mut by_key = BTreeMap::new();
            let mut overtaken = false;
            for row in storefront::Entity::find().all(self.db()).await? {
                for (column, name, stored) in secret_columns(&row) {
                    let Some(stored) = stored else { continue };
                    let here = place(name, &row.id);
                    let plaintext = match stored_key_id(stored) {
                        None => stored.clone(),
                        Some(_) => secrets.open(&here, stored)?,
                    };
                    let rewrite = match which {
                        Reencrypt::Nothing => false,
                        Reencrypt::Plaintext => stored_key_id(stored).is_none(),
                        Reencrypt::NotUnderPrimary => !secrets.is_current(stored),
                    };
                    let now = if rewrite {
                        let sealed = secrets.seal(&here, &plaintext);
                        let updated = storefront::Entity::update_many()
                            .col_expr(column, Expr::value(sealed.clone()))
                            .filter(storefront::Column::Id.eq(row.id.clone()))
                            .filter(column.eq(stored.clone()))
                            .exec(self.db())
                            .await?;
                        if updated.rows_affected == 0 {
                            overtaken = true;
                            continue;
                        }
                        reencrypted += 1;
                        sealed
                    } else {
                        stored.clone()
                    };
                    let key = stored_key_id(&now).unwrap_or("plaintext").to_string();
                    *by_key.entry(key).or_insert(0) += 1;
                }
            }
            if !overtaken {
                return Ok(SecretsReport {
                    reencrypted,
                    by_key,
                });
            }
        }
        Err(SecretsError::KeptChanging.into())
    }

    /// Creates a storefront with its first API key, atomically.
    pub async fn insert_storefront(
        &self,
        row: StorefrontRow,
        key: ApiKeyRow,
    ) -> Result<(), StoreError> {
        let row = self.sealed(row)?;
        let txn = self.db().begin().await?;
        row.into_active_model().insert(&txn).await?;
        key.into_active_model().insert(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn storefront(&self, id: &str) -> Result<Option<StorefrontRow>, StoreError> {
        storefront::Entity::find_by_id(id)
            .one(self.db())
            .await?
            .map(|row| self.opened(row))
            .transpose()
    }

    pub async fn storefronts(&self) -> Result<Vec<StorefrontRow>, StoreError> {
        storefront::Entity::find()
            .order_by_asc(storefront::Column::CreatedAt)
            .all(self.db())
            .await?
            .into_iter()
            .map(|row| self.opened(row))
            .collect()
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
        let now = self.now();
        // Write first: on SQLite a transaction that reads before its first write cannot wait for a
        // busy writer when it upgrades (it fails at once with "database is locked").
        let (new_id, storefront_id, label) =
            (key.id.clone(), key.storefront_id.clone(), key.label.clone());
        key.into_active_model().insert(&txn).await?;
        let mut older = api_key::Entity::find()
            .filter(api_key::Column::StorefrontId.eq(storefront_id))
            .filter(api_key::Column::Id.ne(new_id))
            .filter(api_key::Column::RevokedAt.is_null());
        if same_label_only {
            older = older.filter(api_key::Column::Label.eq(label));
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
        txn.commit().await?;
        Ok(())
    }

    /// Makes `secret` the signing secret and keeps the current one as the previous secret until
    /// `previous_until`, in one statement (the old value is copied by the database, so a concurrent
    /// rotation cannot leave a secret nobody was told about as the only one; both columns share one
    /// associated data, so the copied ciphertext still decrypts). `None`: no such storefront.
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
            .col_expr(
                storefront::Column::SigningSecretCreatedAt,
                Expr::value(self.now()),
            )
            .col_expr(
                storefront::Column::SigningSecret,
                Expr::value(
                    self.secret_keys()?
                        .seal(&place("signing_secret", id), secret),
                ),
            )
            .col_expr(storefront::Column::UpdatedAt, Expr::value(self.now()))
            .filter(storefront::Column::Id.eq(id))
            .exec(self.db())
            .await?;
        if result.rows_affected == 0 {
            return Ok(None);
        }
        self.storefront(id).await
    }

    /// Sets (or, with `None`, clears) a storefront's own address. `false`: no such storefront.
    pub async fn set_storefront_shop_url(
        &self,
        id: &str,
        shop_url: Option<&str>,
    ) -> Result<bool, StoreError> {
        let result = storefront::Entity::update_many()
            .col_expr(storefront::Column::ShopUrl, Expr::value(shop_url))
            .col_expr(storefront::Column::UpdatedAt, Expr::value(self.now()))
            .filter(storefront::Column::Id.eq(id))
            .exec(self.db())
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// Sets the methods a storefront's checkouts may offer (`None`: every one paydesk takes).
    /// `false`: no such storefront.
    pub async fn set_storefront_pay_methods(
        &self,
        id: &str,
        methods: Option<crate::domain::PayMethods>,
    ) -> Result<bool, StoreError> {
        let result = storefront::Entity::update_many()
            .col_expr(storefront::Column::PayMethods, Expr::value(methods))
            .col_expr(storefront::Column::UpdatedAt, Expr::value(self.now()))
            .filter(storefront::Column::Id.eq(id))
            .exec(self.db())
            .await?;
        Ok(result.rows_affected > 0)
    }
}
