//! Storefronts: the tenants of paydesk. Each has an Innopay MID with its merchant key and cancel
//! password (secrets, never returned by the API), API keys (shown once, stored as SHA-256 hashes) and a
//! signing secret for the redirects and webhooks paydesk sends it. A storefront is `test` when its MID
//! is an Innopay test MID and `live` otherwise; keys carry the mode in their prefix, and a key only
//! authenticates for a storefront of the same mode, so a test key can never reach a live MID.

use base64::Engine;
use hmac::{KeyInit, Mac};
use rand::Rng;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::api::ApiError;
use crate::app::AppState;
use crate::config::{Config, ExposeSecret, SecretString};
use crate::domain::{InvalidValue, Mid, PayMethod, PayMethods, web_url};
use crate::store::storefronts::{ApiKeyRow, StorefrontRow};
use crate::store::{Store, StoreError};

/// Innopay's public test MID; payments on it move no money.
pub const TEST_MIDS: &[&str] = &["testpay01m"];

/// Id of the storefront `serve` creates on the embedded default.
pub const DEMO_STOREFRONT_ID: &str = "sf_demo";

/// How many demo keys stay valid; each start without `PAYDESK_DEMO_API_KEY` prints a new one.
const DEMO_KEYS_KEPT: u64 = 5;

pub use crate::domain::Mode;

impl Mode {
    pub fn for_mid(mid: &Mid) -> Self {
        if TEST_MIDS.contains(&mid.as_str()) {
            Mode::Test
        } else {
            Mode::Live
        }
    }

    fn key_prefix(self) -> &'static str {
        match self {
            Mode::Test => "sk_test_",
            Mode::Live => "sk_live_",
        }
    }
}

/// A storefront as the rest of paydesk uses it.
#[derive(Clone, Debug)]
pub struct Storefront {
    pub id: String,
    pub name: String,
    pub mode: Mode,
    pub mid: Mid,
    pub merchant_key: SecretString,
    pub cancel_password: SecretString,
    /// Signs return redirects and webhooks (Standard Webhooks `whsec_` format).
    pub signing_secret: SecretString,
    /// The secret before the last rotation, while it still signs alongside the new one.
    pub previous_signing_secret: Option<SecretString>,
    /// When the previous secret stops signing.
    pub previous_signing_secret_expires_at: Option<OffsetDateTime>,
    /// When the current secret was issued; unknown for one rotated before paydesk recorded it.
    pub signing_secret_created_at: Option<OffsetDateTime>,
    /// The shop's own address: where shopper pages lead "back to the shop" when the checkout has no
    /// success or fail URL for the outcome.
    pub shop_url: Option<url::Url>,
    /// The methods its checkouts may offer; `None`: every method paydesk takes.
    pub pay_methods: Option<PayMethods>,
}

impl Storefront {
    /// The Standard Webhooks signature of `message`: `v1,<base64 HMAC-SHA256>` keyed by the current
    /// secret, then, space-separated, one keyed by the previous secret while a rotation's overlap lasts,
    /// so a receiver that has either secret can verify. Webhooks sign `{id}.{timestamp}.{body}`; return
    /// redirects sign their query fields. This is the only place paydesk signs anything.
    pub fn signature(&self, message: &str) -> String {
        std::iter::once(&self.signing_secret)
            .chain(self.previous_signing_secret.as_ref())
            .map(|secret| sign(secret, message))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Names a signing secret without revealing it: the first 8 hex characters of the SHA-256 of the
/// whole `whsec_...` string, which a receiver can compute from the secret it holds to compare.
pub fn signing_key_id(secret: &SecretString) -> String {
    hex::encode(Sha256::digest(secret.expose_secret().as_bytes()))[..8].to_string()
}

/// `v1,<base64 HMAC-SHA256>` keyed by the bytes of a `whsec_<base64>` secret.
fn sign(secret: &SecretString, message: &str) -> String {
    let key_b64 = secret.expose_secret().trim_start_matches("whsec_");
    let key = base64::engine::general_purpose::STANDARD
        .decode(key_b64)
        .unwrap_or_else(|_| key_b64.as_bytes().to_vec());
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(message.as_bytes());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

#[derive(Debug, thiserror::Error)]
pub enum StorefrontError {
    #[error("missing API key")]
    MissingKey,
    #[error("unknown or revoked API key")]
    InvalidKey,
    #[error("the API key's mode does not match its storefront")]
    ModeMismatch,
    #[error("invalid {field}: expected {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error(
        "live storefronts need PAYDESK_INNOPAY_API_URL pointing at Innopay; this server talks to the sandbox"
    )]
    LiveNeedsInnopay,
    #[error("this server talks to the Innopay sandbox and refuses live keys")]
    LiveKeyOnSandbox,
    #[error("no storefront {0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<StorefrontError> for ApiError {
    fn from(err: StorefrontError) -> Self {
        match err {
            StorefrontError::MissingKey => ApiError::unauthenticated(
                "missing_api_key",
                "send `Authorization: Bearer <API key>`",
            )
            .with_param("Authorization"),
            StorefrontError::InvalidKey | StorefrontError::ModeMismatch => {
                ApiError::unauthenticated("invalid_api_key", "the API key is unknown or revoked")
                    .with_param("Authorization")
            }
            StorefrontError::Invalid { field, reason } => ApiError::invalid(
                "invalid_storefront",
                field,
                format!("{field}: expected {reason}"),
            ),
            StorefrontError::NotFound(_) => {
                ApiError::not_found("storefront_not_found", "no such storefront")
            }
            StorefrontError::LiveNeedsInnopay => ApiError::invalid(
                "live_mid_without_innopay",
                "mid",
                StorefrontError::LiveNeedsInnopay.to_string(),
            ),
            StorefrontError::LiveKeyOnSandbox => ApiError::new(
                poem::http::StatusCode::FORBIDDEN,
                crate::api::ErrorType::Permission,
                "live_key_on_sandbox",
                StorefrontError::LiveKeyOnSandbox.to_string(),
            )
            .with_param("Authorization"),
            StorefrontError::Store(e) => e.into(),
        }
    }
}

impl Storefront {
    /// The storefront a row describes, as of `now` (an expired previous signing secret is dropped).
    fn from_row(row: StorefrontRow, now: OffsetDateTime) -> Result<Self, StorefrontError> {
        let mid: Mid =
            row.innopay_mid
                .parse()
                .map_err(|e: InvalidValue| StorefrontError::Invalid {
                    field: "mid",
                    reason: e.0,
                })?;
        // An expired previous secret no longer signs, whether or not a rotation has cleared it yet.
        let overlap_until = row
            .previous_signing_secret_expires_at
            .filter(|until| *until > now);
        Ok(Storefront {
            previous_signing_secret: overlap_until
                .and(row.previous_signing_secret)
                .map(SecretString::from),
            previous_signing_secret_expires_at: overlap_until,
            signing_secret_created_at: row.signing_secret_created_at,
            shop_url: match row.shop_url.as_deref() {
                None => None,
                Some(raw) => {
                    Some(
                        web_url(raw, SHOP_URL_MAX).map_err(|e| StorefrontError::Invalid {
                            field: "shop_url",
                            reason: e.0,
                        })?,
                    )
                }
            },
            pay_methods: row.pay_methods,
            // From the MID, never from the stored label: a row whose MID was changed to a live one
            // must not stay in test mode, where test keys (which then no longer match) would reach it.
            mode: Mode::for_mid(&mid),
            id: row.id,
            name: row.name,
            mid,
            merchant_key: SecretString::from(row.merchant_key),
            cancel_password: SecretString::from(row.cancel_password),
            signing_secret: SecretString::from(row.signing_secret),
        })
    }
}

fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn new_signing_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// A freshly issued key: the only moment its plaintext exists.
fn issue_key(
    storefront_id: &str,
    mode: Mode,
    label: &str,
    plaintext: Option<&str>,
    now: OffsetDateTime,
) -> (String, ApiKeyRow) {
    let key = plaintext
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}{}", mode.key_prefix(), random_token(32)));
    let row = ApiKeyRow {
        id: format!("key_{}", random_token(20)),
        storefront_id: storefront_id.to_string(),
        prefix: key.chars().take(12).collect(),
        key_hash: hash_key(&key),
        mode: mode.as_str().to_string(),
        label: label.to_string(),
        created_at: now,
        revoked_at: None,
    };
    (key, row)
}

/// What `paydesk storefront create` needs.
pub struct NewStorefront {
    pub name: String,
    pub mid: String,
    pub merchant_key: SecretString,
    pub cancel_password: SecretString,
}

/// A created storefront with the secrets that are shown exactly once.
pub struct Created {
    pub storefront: Storefront,
    pub api_key: SecretString,
}

/// Resolves a bearer key to its storefront.
pub async fn authenticate(store: &Store, bearer: &str) -> Result<Storefront, StorefrontError> {
    let bearer = bearer.trim();
    if bearer.is_empty() {
        return Err(StorefrontError::MissingKey);
    }
    if !(bearer.starts_with("sk_test_") || bearer.starts_with("sk_live_")) {
        return Err(StorefrontError::InvalidKey);
    }
    let (key, row) = store
        .storefront_by_key_hash(&hash_key(bearer))
        .await?
        .ok_or(StorefrontError::InvalidKey)?;
    let storefront = Storefront::from_row(row, store.now())?;
    if key.mode != storefront.mode.as_str() || !bearer.starts_with(storefront.mode.key_prefix()) {
        return Err(StorefrontError::ModeMismatch);
    }
    Ok(storefront)
}

fn validate(new: &NewStorefront, config: &Config) -> Result<(Mid, Mode), StorefrontError> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(StorefrontError::Invalid {
            field: "name",
            reason: "1 to 100 characters".into(),
        });
    }
    let mid: Mid = new
        .mid
        .parse()
        .map_err(|e: InvalidValue| StorefrontError::Invalid {
            field: "mid",
            reason: e.0,
        })?;
    let mode = Mode::for_mid(&mid);
    if mode == Mode::Live && config.innopay.api_url.is_none() {
        return Err(StorefrontError::LiveNeedsInnopay);
    }
    for (field, value) in [
        ("merchant_key", new.merchant_key.expose_secret()),
        ("cancel_password", new.cancel_password.expose_secret()),
    ] {
        if value.trim().is_empty() || value.len() > 500 {
            return Err(StorefrontError::Invalid {
                field,
                reason: "a non-empty value of at most 500 characters".into(),
            });
        }
    }
    Ok((mid, mode))
}

pub async fn create(
    store: &Store,
    config: &Config,
    new: NewStorefront,
) -> Result<Created, StorefrontError> {
    let id = format!("sf_{}", random_token(16));
    create_with_id(store, config, &id, new, "default", None).await
}

async fn create_with_id(
    store: &Store,
    config: &Config,
    id: &str,
    new: NewStorefront,
    key_label: &str,
    fixed_key: Option<&str>,
) -> Result<Created, StorefrontError> {
    let (mid, mode) = validate(&new, config)?;
    let now = store.now();
    let row = StorefrontRow {
        id: id.to_string(),
        name: new.name.trim().to_string(),
        mode: mode.as_str().to_string(),
        innopay_mid: mid.to_string(),
        merchant_key: new.merchant_key.expose_secret().to_string(),
        cancel_password: new.cancel_password.expose_secret().to_string(),
        signing_secret: new_signing_secret(),
        previous_signing_secret: None,
        previous_signing_secret_expires_at: None,
        signing_secret_created_at: Some(now),
        shop_url: None,
        pay_methods: None,
        created_at: now,
        updated_at: now,
    };
    let (key, key_row) = issue_key(id, mode, key_label, fixed_key, now);
    store.insert_storefront(row.clone(), key_row).await?;
    Ok(Created {
        storefront: Storefront::from_row(row, now)?,
        api_key: SecretString::from(key),
    })
}

pub async fn list(store: &Store) -> Result<Vec<Storefront>, StorefrontError> {
    store
        .storefronts()
        .await?
        .into_iter()
        .map(|row| Storefront::from_row(row, store.now()))
        .collect()
}

pub async fn find(store: &Store, id: &str) -> Result<Storefront, StorefrontError> {
    store
        .storefront(id)
        .await?
        .ok_or_else(|| StorefrontError::NotFound(id.to_string()))
        .and_then(|row| Storefront::from_row(row, store.now()))
}

/// Sets the methods a storefront's checkouts may offer; `None` allows every method paydesk takes.
/// A method paydesk does not take yet is refused: allowing it would promise what no checkout keeps.
pub async fn set_pay_methods(
    store: &Store,
    id: &str,
    methods: Option<PayMethods>,
) -> Result<Storefront, StorefrontError> {
    if let Some(off) = methods
        .iter()
        .flat_map(PayMethods::iter)
        .find(|m| !m.rules().enabled)
    {
        return Err(StorefrontError::Invalid {
            field: "payMethods",
            reason: format!("methods paydesk takes, not {off}"),
        });
    }
    if !store.set_storefront_pay_methods(id, methods).await? {
        return Err(StorefrontError::NotFound(id.to_string()));
    }
    find(store, id).await
}

impl Storefront {
    /// Whether its checkouts may offer `method`.
    pub fn allows(&self, method: PayMethod) -> bool {
        self.pay_methods.as_ref().is_none_or(|m| m.contains(method))
    }
}

/// Issues a new key and revokes the previous ones.
pub async fn rotate_key(store: &Store, id: &str) -> Result<SecretString, StorefrontError> {
    let storefront = find(store, id).await?;
    let (key, row) = issue_key(id, storefront.mode, "default", None, store.now());
    store.replace_api_key(row, 0, false).await?;
    Ok(SecretString::from(key))
}

/// Issues a new signing secret; the current one keeps signing, next to the new one, for `overlap`.
pub async fn rotate_signing_secret(
    store: &Store,
    id: &str,
    overlap: std::time::Duration,
) -> Result<Storefront, StorefrontError> {
    let overlap = time::Duration::try_from(overlap).unwrap_or(time::Duration::DAY);
    let row = store
        .rotate_signing_secret(id, &new_signing_secret(), store.now() + overlap)
        .await?
        .ok_or_else(|| StorefrontError::NotFound(id.to_string()))?;
    Storefront::from_row(row, store.now())
}

/// Longest shop address taken (as long as a checkout's redirect URLs).
const SHOP_URL_MAX: usize = 2000;

/// Sets the shop's own address (an absolute http(s) URL), or clears it with an empty `raw`.
pub async fn set_shop_url(
    store: &Store,
    id: &str,
    raw: &str,
) -> Result<Storefront, StorefrontError> {
    let url = match raw.trim() {
        "" => None,
        raw => Some(
            web_url(raw, SHOP_URL_MAX).map_err(|e| StorefrontError::Invalid {
                field: "shop URL",
                reason: e.0,
            })?,
        ),
    };
    if !store
        .set_storefront_shop_url(id, url.as_ref().map(url::Url::as_str))
        .await?
    {
        return Err(StorefrontError::NotFound(id.to_string()));
    }
    find(store, id).await
}

/// Makes sure the demo storefront on the sandbox test MID exists and returns a test key for it:
/// `PAYDESK_DEMO_API_KEY` when set (so scripts know it), else a new one.
pub async fn ensure_demo(store: &Store, config: &Config) -> Result<SecretString, StorefrontError> {
    let fixed = config.demo_api_key.as_ref().map(|k| k.expose_secret());
    if let Some(key) = fixed
        && !key.starts_with("sk_test_")
    {
        return Err(StorefrontError::Invalid {
            field: "PAYDESK_DEMO_API_KEY",
            reason: "a test key starting with sk_test_".into(),
        });
    }
    if store.storefront(DEMO_STOREFRONT_ID).await?.is_none() {
        let created = create_with_id(
            store,
            config,
            DEMO_STOREFRONT_ID,
            NewStorefront {
                name: "데모 상점 (paydesk demo)".into(),
                mid: TEST_MIDS[0].into(),
                merchant_key: config.sandbox.merchant_key.clone(),
                cancel_password: config.sandbox.cancel_password.clone(),
            },
            "demo",
            fixed,
        )
        .await;
        match created {
            Ok(created) => return Ok(created.api_key),
            // Another instance created it at the same moment: fall through and add our key.
            Err(StorefrontError::Store(_))
                if store.storefront(DEMO_STOREFRONT_ID).await?.is_some() => {}
            Err(e) => return Err(e),
        }
    }
    if let Some(key) = fixed
        && let Some(existing) = store.find_api_key_by_hash(&hash_key(key)).await?
    {
        if existing.storefront_id == DEMO_STOREFRONT_ID && existing.revoked_at.is_none() {
            return Ok(SecretString::from(key.to_string()));
        }
        return Err(StorefrontError::Invalid {
            field: "PAYDESK_DEMO_API_KEY",
            reason: "a key not already used by another storefront or revoked".into(),
        });
    }
    let (key, row) = issue_key(DEMO_STOREFRONT_ID, Mode::Test, "demo", fixed, store.now());
    store.replace_api_key(row, DEMO_KEYS_KEPT - 1, true).await?;
    Ok(SecretString::from(key))
}

/// `Authorization: Bearer sk_test_...` (or `sk_live_...`): the storefront's secret API key.
#[derive(poem_openapi::SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "sk_test_... / sk_live_...")]
pub struct ApiKeyAuth(poem_openapi::auth::Bearer);

impl ApiKeyAuth {
    /// The storefront this key belongs to. A live storefront's key is refused by a server that talks
    /// to the sandbox: its payments would be simulated while the storefront believes them real.
    pub async fn storefront(&self, state: &AppState) -> Result<Storefront, StorefrontError> {
        let storefront = authenticate(&state.store, &self.0.token).await?;
        if storefront.mode == Mode::Live && state.config.innopay.api_url.is_none() {
            return Err(StorefrontError::LiveKeyOnSandbox);
        }
        Ok(storefront)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_their_mode_and_are_stored_hashed() {
        let (key, row) = issue_key(
            "sf_x",
            Mode::Test,
            "default",
            None,
            OffsetDateTime::now_utc(),
        );
        assert!(key.starts_with("sk_test_"));
        assert_eq!(key.len(), 8 + 32);
        assert_eq!(row.key_hash, hash_key(&key));
        assert_ne!(row.key_hash, key);
        assert_eq!(row.prefix, &key[..12]);
        let (live, _) = issue_key(
            "sf_x",
            Mode::Live,
            "default",
            None,
            OffsetDateTime::now_utc(),
        );
        assert!(live.starts_with("sk_live_"));
    }

    fn storefront(secret: &str, previous: Option<&str>) -> Storefront {
        Storefront {
            id: "sf_x".into(),
            name: "x".into(),
            mode: Mode::Test,
            mid: "testpay01m".parse().unwrap(),
            merchant_key: SecretString::from(String::new()),
            cancel_password: SecretString::from(String::new()),
            signing_secret: SecretString::from(secret),
            previous_signing_secret: previous.map(SecretString::from),
            previous_signing_secret_expires_at: None,
            signing_secret_created_at: None,
            shop_url: None,
            pay_methods: None,
        }
    }

    #[test]
    fn a_key_id_is_the_start_of_the_secrets_sha256() {
        let secret = SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let id = signing_key_id(&secret);
        assert_eq!(id.len(), 8);
        assert!(hex::encode(Sha256::digest(secret.expose_secret().as_bytes())).starts_with(&id));
    }

    #[test]
    fn signatures_follow_standard_webhooks_and_list_both_secrets_during_a_rotation() {
        // The Standard Webhooks specification's own test vector.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let message = r#"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}"#;
        let expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(storefront(secret, None).signature(message), expected);
        let rotating = storefront(&new_signing_secret(), Some(secret)).signature(message);
        let parts: Vec<&str> = rotating.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1], expected);
        assert!(parts[0].starts_with("v1,") && parts[0] != expected);
    }

    #[test]
    fn only_test_mids_are_test_mode() {
        assert_eq!(Mode::for_mid(&"testpay01m".parse().unwrap()), Mode::Test);
        assert_eq!(Mode::for_mid(&"shopabc01m".parse().unwrap()), Mode::Live);
    }
}
