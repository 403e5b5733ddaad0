//! `paydesk console user add|list|disable|reset-password`: the console's people are managed from the
//! command line (by whoever runs paydesk), and each change lands in the audit log.

use serde_json::json;
use time::OffsetDateTime;

use crate::store::console::{AuditAction, NewAudit, NewUser, Role, UserRow};
use crate::store::{Store, StoreError};

use super::auth::{MIN_PASSWORD_CHARS, hash_password};

/// Who the audit log names for changes made by the command line.
const CLI: &str = "paydesk console (CLI)";

fn valid_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    Ok(())
}

async fn audit(
    store: &Store,
    action: AuditAction,
    user: &UserRow,
    now: OffsetDateTime,
) -> Result<(), String> {
    store
        .append_audit(NewAudit {
            at: now,
            user: None,
            username: CLI,
            action,
            payment_id: None,
            noti_id: None,
            detail: json!({"user": user.username, "role": user.role.as_str()}),
            remote_addr: None,
        })
        .await
        .map_err(|e| e.to_string())
}

pub(crate) async fn add_user(
    store: &Store,
    username: &str,
    role: &str,
    storefronts: &[String],
    password: &str,
    now: OffsetDateTime,
) -> Result<UserRow, String> {
    let role = Role::parse(role).ok_or("--role must be agent or admin")?;
    let username = username.trim();
    if username.is_empty()
        || username.len() > 64
        || !username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
    {
        return Err("the user name must be 1 to 64 letters, digits or . _ - @".into());
    }
    valid_password(password)?;
    // The row is enough (its secrets are not read, so no key is needed to add a user).
    for id in storefronts {
        if store
            .storefront(id)
            .await
            .map_err(|e| e.to_string())?
            .is_none()
        {
            return Err(format!("--storefront {id}: no such storefront"));
        }
    }
    let password_hash = hash_password(password)?;
    let user = store
        .insert_console_user(
            NewUser {
                username,
                password_hash,
                role,
                storefronts,
            },
            now,
        )
        .await
        .map_err(|e| match e {
            StoreError::Duplicate(_) => format!("a console user named {username} exists"),
            other => other.to_string(),
        })?;
    audit(store, AuditAction::UserAdded, &user, now).await?;
    Ok(user)
}

pub(crate) async fn list_users(store: &Store) -> Result<Vec<UserRow>, String> {
    store.console_users().await.map_err(|e| e.to_string())
}

pub(crate) async fn disable_user(
    store: &Store,
    username: &str,
    now: OffsetDateTime,
) -> Result<(), String> {
    let user = store
        .disable_console_user(username, now)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no console user named {username}"))?;
    audit(store, AuditAction::UserDisabled, &user, now).await
}

pub(crate) async fn reset_password(
    store: &Store,
    username: &str,
    password: &str,
    now: OffsetDateTime,
) -> Result<(), String> {
    valid_password(password)?;
    let hash = hash_password(password)?;
    let user = store
        .set_console_password(username, hash, now)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no console user named {username}"))?;
    audit(store, AuditAction::PasswordReset, &user, now).await
}
