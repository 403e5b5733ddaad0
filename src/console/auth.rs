//! Who is signed in: argon2id passwords, database sessions behind an `HttpOnly` cookie (only a hash
//! of the session id is stored), a CSRF token per session checked on every form, and login throttling
//! per account and per client address, counted in the database so every instance counts the same.

use std::sync::LazyLock;

use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use base64::Engine;
use poem::http::StatusCode;
use poem::{Request, Response};
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use crate::app::AppState;
use crate::store::StoreError;
use crate::store::console::{SessionRow, ThrottleRule, UserRow};

use super::Permission;

/// The session cookie; scoped to the console's paths.
pub(super) const SESSION_COOKIE: &str = "paydesk_console";
/// The login form's CSRF cookie (double submit: there is no session yet to hold a token).
pub(super) const LOGIN_COOKIE: &str = "paydesk_console_login";
/// A session unused this long ends: a console left open on a shared desk.
pub(super) const IDLE_TIMEOUT: Duration = Duration::minutes(30);
/// A session ends this long after login however busy it is: one working day.
pub(super) const ABSOLUTE_TIMEOUT: Duration = Duration::hours(12);
/// `last_seen_at` is written at most this often, so browsing is not one write per page.
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// Five wrong passwords for one account within 15 minutes lock it for 15 minutes: enough for typos,
/// far too few to guess a password.
pub(super) const ACCOUNT_RULE: ThrottleRule = ThrottleRule {
    window: Duration::minutes(15),
    limit: 5,
    lockout: Duration::minutes(15),
};
/// One address trying many accounts: 20 failures within 15 minutes lock the address.
pub(super) const ADDRESS_RULE: ThrottleRule = ThrottleRule {
    window: Duration::minutes(15),
    limit: 20,
    lockout: Duration::minutes(15),
};

/// Shortest password `paydesk console user add|reset-password` accepts.
pub(super) const MIN_PASSWORD_CHARS: usize = 10;

/// A random token of 32 bytes, URL-safe base64.
pub(super) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database stores of a session id.
pub(super) fn session_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// argon2id with the crate's default (OWASP-recommended) parameters, as a PHC string.
pub(super) fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    rand::rng().fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// A hash no password matches, verified for unknown usernames so that a wrong name takes as long
/// as a wrong password (no probing for which accounts exist).
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password(&random_token()).unwrap_or_default());

/// Whether `password` matches the PHC string (on a blocking thread: argon2 is deliberately slow).
pub(super) async fn verify_password(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let phc = phc.unwrap_or_else(|| DUMMY_HASH.clone());
        PasswordHash::new(&phc).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// The value of cookie `name` in the request.
pub(super) fn cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value for the console: `HttpOnly` (no script reads it), `SameSite=Lax` (no other
/// site's form posts with it), `Secure` when the console is served over https. `None` clears it.
pub(super) fn set_cookie(state: &AppState, name: &str, value: Option<&str>) -> String {
    cookie_header(state.public_url.starts_with("https://"), name, value)
}

fn cookie_header(secure: bool, name: &str, value: Option<&str>) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match value {
        Some(value) => format!("{name}={value}; Path=/console; HttpOnly; SameSite=Lax{secure}"),
        None => format!("{name}=; Path=/console; HttpOnly; SameSite=Lax{secure}; Max-Age=0"),
    }
}

/// The client's address as the TCP peer gives it (paydesk reads no forwarding header).
pub(super) fn client_address(req: &Request) -> String {
    req.remote_addr()
        .as_socket_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Whether two tokens are equal, in constant time.
pub(super) fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The signed-in user of a request.
pub(super) struct Viewer {
    pub user: UserRow,
    pub session: SessionRow,
}

impl Viewer {
    pub fn may(&self, permission: Permission) -> bool {
        permission.allows(self.user.role)
    }

    /// Whether a submitted form carries this session's CSRF token.
    pub fn csrf_ok(&self, submitted: Option<&str>) -> bool {
        submitted.is_some_and(|t| same_token(t, &self.session.csrf_token))
    }

    pub fn csrf(&self) -> &str {
        &self.session.csrf_token
    }
}

/// Whether a session is still alive at `now`.
pub(super) fn session_alive(session: &SessionRow, now: OffsetDateTime) -> bool {
    now < session.created_at + ABSOLUTE_TIMEOUT && now < session.last_seen_at + IDLE_TIMEOUT
}

/// The signed-in user, or the answer to send instead (to the login page).
pub(super) async fn signed_in(
    req: &Request,
    state: &AppState,
    now: OffsetDateTime,
) -> Result<Viewer, Response> {
    match session_of(req, state, now).await {
        Ok(Some(viewer)) => Ok(viewer),
        Ok(None) => Err(Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header("location", "/console/login")
            .header("cache-control", "no-store")
            .finish()),
        Err(e) => Err(super::view::store_error(&e)),
    }
}

async fn session_of(
    req: &Request,
    state: &AppState,
    now: OffsetDateTime,
) -> Result<Option<Viewer>, StoreError> {
    let Some(token) = cookie(req, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = session_hash(&token);
    let Some((session, user)) = state.store.console_session(&hash).await? else {
        return Ok(None);
    };
    if !session_alive(&session, now) {
        state.store.end_console_session(&hash).await?;
        return Ok(None);
    }
    if now - session.last_seen_at >= TOUCH_EVERY {
        state.store.touch_console_session(&hash, now).await?;
    }
    Ok(Some(Viewer { user, session }))
}

/// The throttle keys of a login attempt.
pub(super) fn throttle_keys(username: &str, address: &str) -> (String, String) {
    (format!("user:{username}"), format!("addr:{address}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse battery".into(), Some(hash.clone())).await);
        assert!(!verify_password("correct horse batterY".into(), Some(hash)).await);
        assert!(!verify_password("anything".into(), None).await);
    }

    #[test]
    fn the_cookie_is_secure_behind_https_only() {
        let plain = cookie_header(false, SESSION_COOKIE, Some("t"));
        assert_eq!(
            plain,
            "paydesk_console=t; Path=/console; HttpOnly; SameSite=Lax"
        );
        let https = cookie_header(true, SESSION_COOKIE, Some("t"));
        assert!(https.ends_with("; Secure"), "{https}");
    }

    #[test]
    fn sessions_end_when_idle_or_old() {
        let start = time::macros::datetime!(2026-12-03 00:00 UTC);
        let session = SessionRow {
            id_hash: String::new(),
            user_id: String::new(),
            csrf_token: String::new(),
            created_at: start,
            last_seen_at: start,
        };
        assert!(session_alive(&session, start + Duration::minutes(29)));
        assert!(!session_alive(&session, start + IDLE_TIMEOUT));
        let busy = SessionRow {
            last_seen_at: start + Duration::hours(12),
            ..session
        };
        assert!(!session_alive(&busy, start + ABSOLUTE_TIMEOUT));
    }
}
