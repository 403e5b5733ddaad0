//! Queries of the support console: its people, sessions, login throttle, audit log, and the
//! read-only views of payments, Noti and webhook deliveries it shows. Sessions and throttle counters
//! live here (not in memory) so that every instance sees the same ones. The audit log is only ever
//! appended to; notes and resolutions are audit rows, so nothing a person does edits history.

use sea_orm::sea_query::{Expr, ExprTrait, Func, Query, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use time::{Duration, OffsetDateTime};

use super::entities::{
    console_audit, console_session, console_throttle, console_user, innopay_noti, payment,
    webhook_delivery,
};
use super::notis::NotiRow;
use super::payments::PaymentRow;
use super::webhooks::DeliveryRow;
use super::{Store, StoreError};
use crate::domain::{PayMethod, PaymentStatus};

pub use console_audit::Model as AuditRow;
pub use console_session::Model as SessionRow;
pub use console_user::Model as UserRow;

/// What a console user may do is decided by this role alone (see `console::Permission`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, sea_orm::EnumIter, sea_orm::DeriveActiveEnum)]
#[sea_orm(
    rs_type = "String",
    db_type = "String(sea_orm::sea_query::StringLen::None)"
)]
pub enum Role {
    /// Looks payments up, sends help, adds notes.
    #[sea_orm(string_value = "agent")]
    Agent,
    /// Also cancels and refunds, resolves flags, manages users.
    #[sea_orm(string_value = "admin")]
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "agent" => Some(Role::Agent),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Everything the audit log records, one kind per row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, sea_orm::EnumIter, sea_orm::DeriveActiveEnum)]
#[sea_orm(
    rs_type = "String",
    db_type = "String(sea_orm::sea_query::StringLen::None)"
)]
pub enum AuditAction {
    #[sea_orm(string_value = "login")]
    Login,
    #[sea_orm(string_value = "login_failed")]
    LoginFailed,
    #[sea_orm(string_value = "logout")]
    Logout,
    #[sea_orm(string_value = "logout_everywhere")]
    LogoutEverywhere,
    /// A payment page was opened: it shows the buyer's details in full.
    #[sea_orm(string_value = "view_buyer")]
    ViewBuyer,
    #[sea_orm(string_value = "note")]
    Note,
    #[sea_orm(string_value = "cancel")]
    Cancel,
    #[sea_orm(string_value = "resolve_payment")]
    ResolvePayment,
    #[sea_orm(string_value = "resolve_noti")]
    ResolveNoti,
    #[sea_orm(string_value = "redeliver")]
    Redeliver,
    #[sea_orm(string_value = "user_added")]
    UserAdded,
    #[sea_orm(string_value = "user_disabled")]
    UserDisabled,
    #[sea_orm(string_value = "password_reset")]
    PasswordReset,
    #[sea_orm(string_value = "audit_exported")]
    AuditExported,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Login => "login",
            AuditAction::LoginFailed => "login_failed",
            AuditAction::Logout => "logout",
            AuditAction::LogoutEverywhere => "logout_everywhere",
            AuditAction::ViewBuyer => "view_buyer",
            AuditAction::Note => "note",
            AuditAction::Cancel => "cancel",
            AuditAction::ResolvePayment => "resolve_payment",
            AuditAction::ResolveNoti => "resolve_noti",
            AuditAction::Redeliver => "redeliver",
            AuditAction::UserAdded => "user_added",
            AuditAction::UserDisabled => "user_disabled",
            AuditAction::PasswordReset => "password_reset",
            AuditAction::AuditExported => "audit_exported",
        }
    }
}

/// A new console user; `password_hash` is already argon2id.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password_hash: String,
    pub role: Role,
    pub storefronts: &'a [String],
}

/// One row to append to the audit log.
pub struct NewAudit<'a> {
    pub at: OffsetDateTime,
    pub user: Option<&'a UserRow>,
    /// Who, when there is no user row (a failed login names what was typed; the CLI).
    pub username: &'a str,
    pub action: AuditAction,
    pub payment_id: Option<&'a str>,
    pub noti_id: Option<i64>,
    pub detail: serde_json::Value,
    pub remote_addr: Option<&'a str>,
}

/// The console's search: one free-text box and filters.
#[derive(Debug, Default, Clone)]
pub struct PaymentSearch {
    /// Matched against order id, tid, paydesk id, e-mail and buyer name; its digits (when it has
    /// at least four) against the buyer's phone, so `010-1234-5678` finds `01012345678`.
    pub text: Option<String>,
    pub status: Option<PaymentStatus>,
    pub pay_method: Option<PayMethod>,
    pub storefront_id: Option<String>,
    pub created_from: Option<OffsetDateTime>,
    pub created_to: Option<OffsetDateTime>,
    pub flagged: Option<bool>,
    /// Only these storefronts (the user's limit); `None`: every one.
    pub allowed_storefronts: Option<Vec<String>>,
    pub limit: u64,
}

/// How login attempts are throttled.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleRule {
    /// Failures counted within this window...
    pub window: Duration,
    /// ...up to this many lock the key...
    pub limit: i32,
    /// ...for this long.
    pub lockout: Duration,
}

impl UserRow {
    /// The storefronts this user is limited to; `None`: every storefront.
    pub fn storefront_limit(&self) -> Option<Vec<String>> {
        let ids: Vec<String> = self
            .storefronts
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        (!ids.is_empty()).then_some(ids)
    }

    pub fn may_see_storefront(&self, storefront_id: &str) -> bool {
        self.storefront_limit()
            .is_none_or(|ids| ids.iter().any(|id| id == storefront_id))
    }
}

/// `column` with the separators people type in phone numbers removed.
fn digits_only(column: payment::Column) -> SimpleExpr {
    let mut expr = SimpleExpr::from(Expr::col(column));
    for sep in ["-", " ", ".", "(", ")"] {
        expr = Func::cust("REPLACE").arg(expr).arg(sep).arg("").into();
    }
    expr
}

/// `%text%` with LIKE's wildcards taken literally.
fn contains(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

impl Store {
    pub async fn insert_console_user(
        &self,
        user: NewUser<'_>,
        now: OffsetDateTime,
    ) -> Result<UserRow, StoreError> {
        console_user::ActiveModel {
            id: Set(format!("usr_{}", uuid::Uuid::now_v7().simple())),
            username: Set(user.username.to_string()),
            password_hash: Set(user.password_hash),
            role: Set(user.role),
            storefronts: Set(user.storefronts.join(",")),
            disabled: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(self.db())
        .await
        .map_err(StoreError::from_insert)
    }

    pub async fn console_users(&self) -> Result<Vec<UserRow>, StoreError> {
        Ok(console_user::Entity::find()
            .order_by_asc(console_user::Column::Username)
            .all(self.db())
            .await?)
    }

    pub async fn console_user_named(&self, username: &str) -> Result<Option<UserRow>, StoreError> {
        Ok(console_user::Entity::find()
            .filter(console_user::Column::Username.eq(username))
            .one(self.db())
            .await?)
    }

    /// Disables a user and ends every session of theirs; `false` when there is no such user.
    pub async fn disable_console_user(
        &self,
        username: &str,
        now: OffsetDateTime,
    ) -> Result<Option<UserRow>, StoreError> {
        let Some(user) = self.console_user_named(username).await? else {
            return Ok(None);
        };
        console_user::Entity::update_many()
            .col_expr(console_user::Column::Disabled, Expr::value(true))
            .col_expr(console_user::Column::UpdatedAt, Expr::value(now))
            .filter(console_user::Column::Id.eq(&user.id))
            .exec(self.db())
            .await?;
        self.end_console_sessions_of(&user.id).await?;
        Ok(Some(user))
    }

    /// Sets a new password hash and ends every session of the user (whoever knew the old one is
    /// out); `None` when there is no such user.
    pub async fn set_console_password(
        &self,
        username: &str,
        password_hash: String,
        now: OffsetDateTime,
    ) -> Result<Option<UserRow>, StoreError> {
        let Some(user) = self.console_user_named(username).await? else {
            return Ok(None);
        };
        console_user::Entity::update_many()
            .col_expr(
                console_user::Column::PasswordHash,
                Expr::value(password_hash),
            )
            .col_expr(console_user::Column::UpdatedAt, Expr::value(now))
            .filter(console_user::Column::Id.eq(&user.id))
            .exec(self.db())
            .await?;
        self.end_console_sessions_of(&user.id).await?;
        self.clear_login_failures(&format!("user:{username}"))
            .await?;
        Ok(Some(user))
    }

    pub async fn insert_console_session(
        &self,
        id_hash: &str,
        user_id: &str,
        csrf_token: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        console_session::Model {
            id_hash: id_hash.to_string(),
            user_id: user_id.to_string(),
            csrf_token: csrf_token.to_string(),
            created_at: now,
            last_seen_at: now,
        }
        .into_active_model()
        .insert(self.db())
        .await?;
        Ok(())
    }

    /// The session with this id hash and its user, if both exist and the user is enabled.
    pub async fn console_session(
        &self,
        id_hash: &str,
    ) -> Result<Option<(SessionRow, UserRow)>, StoreError> {
        let Some(session) = console_session::Entity::find_by_id(id_hash)
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        let user = console_user::Entity::find_by_id(&session.user_id)
            .filter(console_user::Column::Disabled.eq(false))
            .one(self.db())
            .await?;
        Ok(user.map(|u| (session, u)))
    }

    pub async fn touch_console_session(
        &self,
        id_hash: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        console_session::Entity::update_many()
            .col_expr(console_session::Column::LastSeenAt, Expr::value(now))
            .filter(console_session::Column::IdHash.eq(id_hash))
            .exec(self.db())
            .await?;
        Ok(())
    }

    pub async fn end_console_session(&self, id_hash: &str) -> Result<(), StoreError> {
        console_session::Entity::delete_by_id(id_hash)
            .exec(self.db())
            .await?;
        Ok(())
    }

    /// Ends every session of a user (logout everywhere); returns how many.
    pub async fn end_console_sessions_of(&self, user_id: &str) -> Result<u64, StoreError> {
        Ok(console_session::Entity::delete_many()
            .filter(console_session::Column::UserId.eq(user_id))
            .exec(self.db())
            .await?
            .rows_affected)
    }

    /// The latest time until which any of `keys` is locked out, if one is locked at `now`.
    pub async fn login_locked_until(
        &self,
        keys: &[String],
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        Ok(console_throttle::Entity::find()
            .filter(console_throttle::Column::Key.is_in(keys.iter().cloned()))
            .filter(console_throttle::Column::LockedUntil.gt(now))
            .all(self.db())
            .await?
            .into_iter()
            .filter_map(|r| r.locked_until)
            .max())
    }

    /// Counts one failed login against `key` and locks it once the rule's limit is reached. The
    /// count is an UPDATE of itself (`failures + 1`), so attempts on several instances at once all
    /// count.
    pub async fn record_login_failure(
        &self,
        key: &str,
        rule: ThrottleRule,
        now: OffsetDateTime,
    ) -> Result<i32, StoreError> {
        let fresh = console_throttle::Model {
            key: key.to_string(),
            failures: 1,
            window_started_at: now,
            locked_until: None,
        };
        match fresh.into_active_model().insert(self.db()).await {
            Ok(_) => {}
            Err(e) if StoreError::is_duplicate(&e) => {
                // A window that ended starts again at this failure.
                console_throttle::Entity::update_many()
                    .col_expr(console_throttle::Column::Failures, Expr::value(0))
                    .col_expr(console_throttle::Column::WindowStartedAt, Expr::value(now))
                    .filter(console_throttle::Column::Key.eq(key))
                    .filter(console_throttle::Column::WindowStartedAt.lt(now - rule.window))
                    .filter(
                        Condition::any()
                            .add(console_throttle::Column::LockedUntil.is_null())
                            .add(console_throttle::Column::LockedUntil.lte(now)),
                    )
                    .exec(self.db())
                    .await?;
                console_throttle::Entity::update_many()
                    .col_expr(
                        console_throttle::Column::Failures,
                        Expr::col(console_throttle::Column::Failures).add(1),
                    )
                    .filter(console_throttle::Column::Key.eq(key))
                    .exec(self.db())
                    .await?;
            }
            Err(e) => return Err(e.into()),
        }
        let row = console_throttle::Entity::find_by_id(key)
            .one(self.db())
            .await?;
        let failures = row.map_or(1, |r| r.failures);
        if failures >= rule.limit {
            console_throttle::Entity::update_many()
                .col_expr(
                    console_throttle::Column::LockedUntil,
                    Expr::value(now + rule.lockout),
                )
                .col_expr(console_throttle::Column::Failures, Expr::value(0))
                .col_expr(console_throttle::Column::WindowStartedAt, Expr::value(now))
                .filter(console_throttle::Column::Key.eq(key))
                .exec(self.db())
                .await?;
        }
        Ok(failures)
    }

    pub async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        console_throttle::Entity::delete_by_id(key)
            .exec(self.db())
            .await?;
        Ok(())
    }

    pub async fn append_audit(&self, entry: NewAudit<'_>) -> Result<(), StoreError> {
        console_audit::ActiveModel {
            at: Set(entry.at),
            user_id: Set(entry.user.map(|u| u.id.clone())),
            username: Set(entry
                .user
                .map_or_else(|| entry.username.to_string(), |u| u.username.clone())),
            action: Set(entry.action),
            payment_id: Set(entry.payment_id.map(str::to_string)),
            noti_id: Set(entry.noti_id),
            detail: Set(entry.detail.to_string()),
            remote_addr: Set(entry.remote_addr.map(str::to_string)),
            ..Default::default()
        }
        .insert(self.db())
        .await?;
        Ok(())
    }

    /// The audit log, newest first; only one payment's rows when `payment_id` is given.
    pub async fn audit_log(
        &self,
        payment_id: Option<&str>,
        limit: u64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let mut query = console_audit::Entity::find();
        if let Some(id) = payment_id {
            query = query.filter(console_audit::Column::PaymentId.eq(id));
        }
        Ok(query
            .order_by_desc(console_audit::Column::Id)
            .limit(limit)
            .all(self.db())
            .await?)
    }

    /// Payments matching the console's search, newest first.
    pub async fn search_payments(
        &self,
        search: &PaymentSearch,
    ) -> Result<Vec<PaymentRow>, StoreError> {
        let mut query = payment::Entity::find();
        if let Some(text) = search
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let pattern = contains(text);
            let mut any = Condition::any()
                .add(payment::Column::Id.eq(text))
                .add(payment::Column::OrderId.eq(text))
                .add(payment::Column::Tid.eq(text))
                .add(Expr::col(payment::Column::BuyerEmail).like(pattern.clone()))
                .add(Expr::col(payment::Column::BuyerName).like(pattern));
            let digits: String = text.chars().filter(char::is_ascii_digit).collect();
            let only_phone_chars = text
                .chars()
                .all(|c| c.is_ascii_digit() || "-. ()+".contains(c));
            if only_phone_chars && digits.len() >= 4 {
                any = any.add(digits_only(payment::Column::BuyerTel).like(contains(&digits)));
            }
            query = query.filter(any);
        }
        if let Some(status) = search.status {
            query = query.filter(payment::Column::Status.eq(status));
        }
        if let Some(method) = search.pay_method {
            query = query.filter(payment::Column::PayMethod.eq(method));
        }
        if let Some(id) = &search.storefront_id {
            query = query.filter(payment::Column::StorefrontId.eq(id));
        }
        if let Some(from) = search.created_from {
            query = query.filter(payment::Column::CreatedAt.gte(from));
        }
        if let Some(to) = search.created_to {
            query = query.filter(payment::Column::CreatedAt.lt(to));
        }
        if let Some(flagged) = search.flagged {
            query = query.filter(payment::Column::Flagged.eq(flagged));
        }
        if let Some(ids) = &search.allowed_storefronts {
            query = query.filter(payment::Column::StorefrontId.is_in(ids.iter().cloned()));
        }
        Ok(query
            .order_by_desc(payment::Column::CreatedAt)
            .order_by_desc(payment::Column::Id)
            .limit(search.limit)
            .all(self.db())
            .await?)
    }

    /// Flagged payments no one has resolved yet, oldest first (the flag queue).
    pub async fn unresolved_flagged_payments(
        &self,
        allowed_storefronts: Option<&[String]>,
        limit: u64,
    ) -> Result<Vec<PaymentRow>, StoreError> {
        let resolved = Query::select()
            .column(console_audit::Column::PaymentId)
            .from(console_audit::Entity)
            .and_where(console_audit::Column::Action.eq(AuditAction::ResolvePayment))
            .and_where(console_audit::Column::PaymentId.is_not_null())
            .to_owned();
        let mut query = payment::Entity::find()
            .filter(payment::Column::Flagged.eq(true))
            .filter(payment::Column::Id.not_in_subquery(resolved));
        if let Some(ids) = allowed_storefronts {
            query = query.filter(payment::Column::StorefrontId.is_in(ids.iter().cloned()));
        }
        Ok(query
            .order_by_asc(payment::Column::UpdatedAt)
            .limit(limit)
            .all(self.db())
            .await?)
    }

    /// Flagged Noti no one has resolved yet, oldest first.
    pub async fn unresolved_flagged_notis(&self, limit: u64) -> Result<Vec<NotiRow>, StoreError> {
        let resolved = Query::select()
            .column(console_audit::Column::NotiId)
            .from(console_audit::Entity)
            .and_where(console_audit::Column::Action.eq(AuditAction::ResolveNoti))
            .and_where(console_audit::Column::NotiId.is_not_null())
            .to_owned();
        Ok(innopay_noti::Entity::find()
            .filter(innopay_noti::Column::Flagged.eq(true))
            .filter(innopay_noti::Column::Id.not_in_subquery(resolved))
            .order_by_asc(innopay_noti::Column::Id)
            .limit(limit)
            .all(self.db())
            .await?)
    }

    pub async fn noti(&self, id: i64) -> Result<Option<NotiRow>, StoreError> {
        Ok(innopay_noti::Entity::find_by_id(id).one(self.db()).await?)
    }

    /// The Noti matched to a payment, oldest first.
    pub async fn notis_of_payment(&self, payment_id: &str) -> Result<Vec<NotiRow>, StoreError> {
        Ok(innopay_noti::Entity::find()
            .filter(innopay_noti::Column::PaymentId.eq(payment_id))
            .order_by_asc(innopay_noti::Column::Id)
            .all(self.db())
            .await?)
    }

    /// A payment's webhook deliveries, oldest first.
    pub async fn deliveries_of_payment(
        &self,
        payment_id: &str,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        Ok(webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::PaymentId.eq(payment_id))
            .order_by_asc(webhook_delivery::Column::CreatedAt)
            .order_by_asc(webhook_delivery::Column::Id)
            .all(self.db())
            .await?)
    }
}
