//! Idempotency keys of the write API. The key row is inserted before the work starts: the primary key
//! (storefront, key) makes a concurrent duplicate fail at once, in any instance, and the stored answer
//! is replayed to retries. A key left "in progress" by a request that never finished is taken over
//! after `IN_PROGRESS_LEASE`.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use time::{Duration, OffsetDateTime};

use super::entities::idempotency_key;
use super::{Store, StoreError};

/// How long a key may stay "in progress". Longer than any request runs (Innopay's read timeout is
/// 20 s); after it, the key is taken over by the next request that carries it.
pub const IN_PROGRESS_LEASE: Duration = Duration::minutes(2);

/// What the caller should do with a request carrying an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// First time: do the work, then `idempotency_finish`.
    New,
    /// Done before: send this answer again.
    Replay { status: u16, body: String },
    /// The key was used for a different request (route or body).
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

impl Store {
    pub async fn idempotency_begin(
        &self,
        storefront_id: &str,
        key: &str,
        route: &str,
        fingerprint: &str,
        ttl: Duration,
    ) -> Result<IdempotencyBegin, StoreError> {
        let now = self.now();
        // Two tries: the second after removing an expired row with the same key.
        for _ in 0..2 {
            let row = idempotency_key::Model {
                storefront_id: storefront_id.to_string(),
                idempotency_key: key.to_string(),
                route: route.to_string(),
                fingerprint: fingerprint.to_string(),
                response_status: None,
                response_body: None,
                created_at: now,
                expires_at: now + ttl,
            };
            match row.into_active_model().insert(self.db()).await {
                Ok(_) => return Ok(IdempotencyBegin::New),
                Err(e) if StoreError::is_duplicate(&e) => {}
                Err(e) => return Err(e.into()),
            }
            let Some(existing) =
                idempotency_key::Entity::find_by_id((storefront_id.to_string(), key.to_string()))
                    .one(self.db())
                    .await?
            else {
                continue;
            };
            // Expired, or still "in progress" long after any request could still be running (its
            // instance died, or the database went away before the key could be released).
            let orphaned = existing.response_status.is_none()
                && existing.created_at <= now - IN_PROGRESS_LEASE;
            if existing.expires_at <= now || orphaned {
                idempotency_key::Entity::delete_many()
                    .filter(idempotency_key::Column::StorefrontId.eq(storefront_id))
                    .filter(idempotency_key::Column::IdempotencyKey.eq(key))
                    .filter(idempotency_key::Column::CreatedAt.eq(existing.created_at))
                    .exec(self.db())
                    .await?;
                continue;
            }
            if existing.route != route || existing.fingerprint != fingerprint {
                return Ok(IdempotencyBegin::Mismatch);
            }
            return Ok(match (existing.response_status, existing.response_body) {
                (Some(status), Some(body)) => IdempotencyBegin::Replay {
                    status: status as u16,
                    body,
                },
                _ => IdempotencyBegin::InProgress,
            });
        }
        Ok(IdempotencyBegin::InProgress)
    }

    /// Stores the answer to replay.
    pub async fn idempotency_finish(
        &self,
        storefront_id: &str,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError> {
        idempotency_key::ActiveModel {
            storefront_id: Set(storefront_id.to_string()),
            idempotency_key: Set(key.to_string()),
            response_status: Set(Some(i32::from(status))),
            response_body: Set(Some(body.to_string())),
            ..Default::default()
        }
        .update(self.db())
        .await?;
        Ok(())
    }

    /// Forgets a key whose request failed in a way worth retrying (5XX), so the retry runs again.
    pub async fn idempotency_abandon(
        &self,
        storefront_id: &str,
        key: &str,
    ) -> Result<(), StoreError> {
        idempotency_key::Entity::delete_by_id((storefront_id.to_string(), key.to_string()))
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// Removes expired keys; returns how many.
    pub async fn purge_expired_idempotency_keys(
        &self,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        Ok(idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::ExpiresAt.lte(now))
            .exec(self.db())
            .await?
            .rows_affected)
    }
}
