//! Typed, layered configuration: built-in defaults, then an optional `paydesk.toml`, then `PAYDESK_*`
//! environment variables. Every value is parsed here, once, so a bad value stops start-up with a message
//! that names the variable and what it expected, and the rest of the program only sees valid types.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use url::Url;

pub mod settings;

use settings::{Default, setting};

/// Values that must never appear in logs, error messages or API answers (merchant keys, passwords,
/// database URLs with credentials): `secrecy`'s types print a mask, are wiped when dropped, and are
/// read only through `expose_secret` (grep for it to audit every use).
pub use secrecy::{ExposeSecret, SecretSlice, SecretString};

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Which database engine a URL points at; some SQL (locking, conflict handling) differs between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

/// A validated database URL. Kept secret because PostgreSQL URLs may carry a password.
#[derive(Clone, Debug)]
pub struct DatabaseUrl {
    pub kind: DatabaseKind,
    pub url: SecretString,
}

impl DatabaseUrl {
    /// The URL without its password, and the password apart (percent-decoded): the database driver
    /// gets the password as an option, so no URL that the driver or its tracing spans print has it.
    pub fn without_password(&self) -> (String, Option<SecretString>) {
        let raw = self.url.expose_secret();
        let Ok(mut url) = Url::parse(raw) else {
            return (raw.to_string(), None);
        };
        // In the user info, or as a `password` query parameter (both are libpq's).
        let mut password = url.password().map(|p| {
            percent_encoding::percent_decode_str(p)
                .decode_utf8_lossy()
                .into_owned()
        });
        let _ = url.set_password(None);
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        if pairs.iter().any(|(k, _)| k == "password") {
            let mut kept = Vec::new();
            for (key, value) in pairs {
                if key == "password" {
                    password = Some(value);
                } else {
                    kept.push((key, value));
                }
            }
            url.set_query(None);
            if !kept.is_empty() {
                url.query_pairs_mut().extend_pairs(kept);
            }
        }
        (url.to_string(), password.map(SecretString::from))
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let kind = if s.starts_with("sqlite:") {
            DatabaseKind::Sqlite
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            DatabaseKind::Postgres
        } else {
            return Err("a sqlite://FILE?mode=rwc or postgres://USER@HOST:PORT/DB URL".into());
        };
        if kind == DatabaseKind::Postgres {
            let parsed = Url::parse(s).map_err(|_| "a valid postgres:// URL".to_string())?;
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err("a postgres:// URL with a host".into());
            }
        }
        Ok(Self {
            kind,
            url: SecretString::from(s.to_string()),
        })
    }
}

/// Where paydesk sends Innopay traffic and how long it waits.
#[derive(Clone, Debug)]
pub struct InnopayConfig {
    /// Base of the approval, cancel and inquiry API. `None` means the built-in sandbox of this server.
    pub api_url: Option<Url>,
    /// The payment window SDK shoppers' browsers load. `None` means the built-in sandbox's stand-in.
    pub js_url: Option<Url>,
    pub connect_timeout: Duration,
    /// How long an approval may take before its outcome is treated as unknown.
    pub read_timeout: Duration,
}

/// The built-in Innopay simulator's own settings.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Mount the sandbox at `/sandbox` on the main server. Defaults to yes only while no real Innopay
    /// is configured (`PAYDESK_INNOPAY_API_URL` unset): a simulator next to real money is a mistake
    /// unless someone asked for it.
    pub enabled: bool,
    /// Bearer token the control API (`/sandbox/_control`) requires; without one the control API is
    /// open only while the sandbox is reachable on loopback alone.
    pub control_token: Option<SecretString>,
    /// Merchant-Key of the always-present test merchant `testpay01m`.
    pub merchant_key: SecretString,
    /// Cancel password (cancelPwd) of `testpay01m`.
    pub cancel_password: SecretString,
    /// Where the sandbox POSTs Noti for merchants without their own URL; `None` means
    /// `<public url>/innopay/noti` (when the public URL is known).
    pub noti_url: Option<Url>,
}

/// How webhooks are delivered to storefronts.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// How often each instance's delivery worker looks for due deliveries.
    pub poll_interval: Duration,
    /// The longest one delivery attempt may take (connect, send, answer).
    pub timeout: Duration,
    /// Multiplies the retry schedule (delays and the three-day give-up age); below 1 only for tests.
    pub retry_scale: f64,
    /// How long the previous signing secret keeps signing after a rotation.
    pub secret_overlap: Duration,
    /// How old an event must be before `GET /v1/events` lists it (see the setting's doc).
    pub event_settle: Duration,
    /// Whether endpoints may be loopback, private or link-local addresses. Defaults to yes while
    /// paydesk talks to the built-in sandbox (a developer's receiver is local) and no once
    /// `PAYDESK_INNOPAY_API_URL` is set (see `webhooks::destination`).
    pub private_networks: bool,
}

/// Who may post Noti to `/innopay/noti`, and how often. Addresses are the TCP peer's: paydesk
/// reads no forwarding header, so behind a proxy they are the proxy's.
#[derive(Clone, Debug)]
pub struct NotiConfig {
    /// Only these ranges may post Noti; `None` (the default) lets every address.
    pub allow: Option<Vec<IpNet>>,
    /// Noti accepted per minute from one address (an IPv6 /64) on one instance, as a burst of this
    /// many refilled evenly.
    pub rate_per_min: NonZeroU32,
}

/// How long rows that are not payment records are kept, and whether each instance purges them
/// itself (see `store::retention`). Payments and their events are never purged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Attempts of webhook deliveries that finished (delivered or given up) longer ago than this.
    pub webhook_attempts: Duration,
    /// Help searches, article views and feedback older than this; never under the analytics
    /// report's longest period.
    pub help_analytics: Duration,
    /// Settled Noti (applied, duplicate, deferred; never flagged ones) older than this.
    pub notis: Duration,
    /// How often each instance purges; `None` (the default): only `paydesk purge` does.
    pub purge_interval: Option<Duration>,
}

/// The help analytics report's longest period (`GET /v1/help/analytics?days=`): help logs are kept
/// at least this long so that the report still covers it.
pub const HELP_ANALYTICS_MAX_DAYS: u64 = 365;

/// Where the keys that encrypt stored credentials come from (see `secrets`).
#[derive(Clone, Debug)]
pub enum SecretKeySource {
    /// `PAYDESK_SECRET_KEY` (encrypts), then `PAYDESK_SECRET_KEY_PREVIOUS` (decrypt only).
    Keys(Vec<SecretSlice<u8>>),
    /// `PAYDESK_SECRET_KEY_FILE`: one base64 key per line, the first encrypts.
    File(PathBuf),
    /// Neither: the embedded default generates a key file next to its SQLite database.
    Unset,
}

/// Documented defaults for the sandbox test merchant (no real money can move through the sandbox).
pub const DEFAULT_SANDBOX_MERCHANT_KEY: &str = "sandbox-merchant-key-testpay01m";
pub const DEFAULT_SANDBOX_CANCEL_PASSWORD: &str = "123456";

/// The whole, validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub addr: SocketAddr,
    pub database: DatabaseUrl,
    /// Base URL browsers and Innopay use to reach this server; `None` derives it from the bound address.
    pub public_url: Option<Url>,
    pub log_format: LogFormat,
    /// `tracing` filter directives, e.g. `info,paydesk=debug`.
    pub log_filter: String,
    /// Longest time in-flight requests get to finish after SIGINT/SIGTERM.
    pub shutdown_timeout: Duration,
    /// How long a client may take to send a request's headers (and, between requests, to start the
    /// next one) before its connection is closed.
    pub header_read_timeout: Duration,
    /// How long a connection may go without a byte read or written before it is closed.
    pub idle_timeout: Duration,
    /// Bearer token `/metrics` requires; `None` leaves it open (bind it to a private network then).
    pub metrics_token: Option<SecretString>,
    pub db_max_connections: u32,
    pub innopay: InnopayConfig,
    pub sandbox: SandboxConfig,
    pub noti: NotiConfig,
    /// Serve help articles from this folder instead of the built-in ones.
    pub help_dir: Option<PathBuf>,
    /// Bearer token for `GET /v1/help/analytics`; `None` disables the report.
    pub help_analytics_token: Option<SecretString>,
    /// Fixed value for the demo storefront's test API key (scripts need a known key).
    pub demo_api_key: Option<SecretString>,
    /// How often each instance's reconciler looks for payments to resolve.
    pub reconcile_interval: Duration,
    /// How long after an approval attempt an inquiry answering "no such transaction" is not yet
    /// believed: the approval may still be in flight at Innopay.
    pub inquiry_grace: Duration,
    /// How long past the Innopay read timeout a call still marked in flight is presumed orphaned.
    pub call_stale_margin: Duration,
    /// How often an issued virtual account is checked at Innopay for a deposit, in case its Noti
    /// was lost (and at its deadline in any case).
    pub deposit_check_interval: Duration,
    pub webhooks: WebhookConfig,
    pub retention: RetentionConfig,
    pub secret_key: SecretKeySource,
    /// Settings that were given but are not known; reported once logging is up.
    pub unknown_keys: Vec<String>,
}

/// One line of `paydesk config show`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShownSetting {
    pub name: String,
    /// The value in effect; a secret is masked.
    pub value: String,
    /// `environment`, the config file's path, `default` or `unknown`.
    pub origin: String,
}

/// A secret's first two characters, the rest masked (enough to tell two documented defaults apart).
fn mask(secret: &str) -> String {
    format!("{}***", secret.chars().take(2).collect::<String>())
}

/// A configuration value that could not be used. The message names the variable, so an operator can fix
/// it without reading code.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid {origin}: expected {expected}, got {value:?}")]
    Invalid {
        origin: String,
        expected: String,
        value: String,
    },
    #[error("cannot read {path}: {reason}")]
    File { path: String, reason: String },
}

/// Where a raw value came from, for error messages.
#[derive(Clone, Debug)]
enum Origin {
    Env(String),
    File(String, PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Env(var) => write!(f, "{var}"),
            Origin::File(key, path) => write!(f, "`{key}` in {}", path.display()),
        }
    }
}

/// Raw string values, by key, with where each came from; later layers override earlier ones.
struct Layers {
    values: BTreeMap<String, (String, Origin)>,
}

impl Layers {
    /// The process environment, and the config file it names (`PAYDESK_CONFIG`, else an optional
    /// `./paydesk.toml`).
    fn env_sources() -> ((PathBuf, bool), Vec<(String, String)>) {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let file = env
            .iter()
            .find(|(k, _)| k == "PAYDESK_CONFIG")
            .map(|(_, v)| (PathBuf::from(v), true))
            .unwrap_or_else(|| (PathBuf::from("paydesk.toml"), false));
        (file, env)
    }

    fn from_env() -> Result<Self, ConfigError> {
        let (file, env) = Self::env_sources();
        Self::from_sources(Some(file), env)
    }

    fn from_sources(
        file: Option<(PathBuf, bool)>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut layers = Layers {
            values: BTreeMap::new(),
        };
        if let Some((path, required)) = file {
            read_file_layer(&path, required, &mut layers)?;
        }
        for (name, value) in env {
            // `PAYDESK_TEST_*` belong to the test harness (e.g. the PostgreSQL URL to test against).
            if name.starts_with("PAYDESK_TEST_") {
                continue;
            }
            if let Some(key) = name.strip_prefix("PAYDESK_") {
                layers
                    .values
                    .insert(key.to_ascii_lowercase(), (value, Origin::Env(name.clone())));
            }
        }
        Ok(layers)
    }

    fn origin(&self, key: &str) -> String {
        match self.values.get(key) {
            Some((_, Origin::Env(_))) => "environment".into(),
            Some((_, Origin::File(_, path))) => path.display().to_string(),
            None => "default".into(),
        }
    }

    fn get(&self, key: &str) -> Option<&(String, Origin)> {
        debug_assert!(setting(key).key == key);
        self.values.get(key)
    }

    /// The given value of `key`, else its declared default (`Default::Value`), parsed.
    fn parse<T: FromStr>(&self, key: &str) -> Result<T, ConfigError> {
        match (self.get(key), setting(key).default) {
            (Some(_), _) => self.parse_or(key, None),
            (None, Default::Value(default)) => Ok(default
                .parse()
                .unwrap_or_else(|_| panic!("the declared default of {key} parses"))),
            (None, _) => panic!("{key} has no declared default value; use parse_or"),
        }
    }

    /// The given value of `key`, else `default` (for settings whose default is a `Default::Rule`).
    fn parse_or<T: FromStr>(&self, key: &str, default: Option<T>) -> Result<T, ConfigError> {
        match (self.get(key), default) {
            (Some((raw, origin)), _) => raw
                .trim()
                .parse()
                .map_err(|_| invalid(origin, setting(key).expected, &shown(key, raw))),
            (None, Some(default)) => Ok(default),
            (None, None) => panic!("{key}: no value and no default"),
        }
    }

    /// The given text of `key`, else its declared default value.
    fn text(&self, key: &str) -> String {
        match (self.string(key), setting(key).default) {
            (Some(given), _) => given,
            (None, Default::Value(default)) => default.to_string(),
            (None, _) => panic!("{key} has no declared default value"),
        }
    }

    fn string(&self, key: &str) -> Option<String> {
        self.get(key)
            .map(|(raw, _)| raw.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    /// Comma-separated CIDR ranges or single addresses; empty or absent is `None`.
    fn ranges(&self, key: &str) -> Result<Option<Vec<IpNet>>, ConfigError> {
        let Some((raw, origin)) = self.get(key) else {
            return Ok(None);
        };
        let ranges = raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                invalid(
                    origin,
                    "comma-separated addresses or CIDR ranges such as 203.0.113.0/24",
                    raw,
                )
            })?;
        Ok(Some(ranges).filter(|r| !r.is_empty()))
    }

    fn url(&self, key: &str) -> Result<Option<Url>, ConfigError> {
        match self.get(key) {
            None => Ok(None),
            Some((raw, _)) if raw.trim().is_empty() => Ok(None),
            Some((raw, origin)) => {
                let url = Url::parse(raw.trim())
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
                    .ok_or_else(|| invalid(origin, "an absolute http(s) URL", raw))?;
                Ok(Some(url))
            }
        }
    }
}

/// A value as an error message may quote it: a database URL's password masked. (Other secret
/// settings are taken as strings and never quoted.)
fn shown(key: &str, raw: &str) -> String {
    if key != "database_url" {
        return raw.to_string();
    }
    let masked = redact_userinfo(raw);
    match masked.split_once("password=") {
        Some((before, _)) => format!("{before}password=***"),
        None => masked,
    }
}

/// `scheme://user:password@host...` as `scheme://***@host...`; also when the URL does not parse,
/// which is exactly when it gets quoted.
fn redact_userinfo(raw: &str) -> String {
    match raw.split_once("://") {
        Some((scheme, rest)) => match rest.rfind('@') {
            Some(at) => format!("{scheme}://***{}", &rest[at..]),
            None => raw.to_string(),
        },
        None => raw.to_string(),
    }
}

fn invalid(origin: &Origin, expected: &str, raw: &str) -> ConfigError {
    ConfigError::Invalid {
        origin: origin.to_string(),
        expected: expected.to_string(),
        value: raw.to_string(),
    }
}

impl Config {
    /// Reads the process environment and, if present, the config file (`PAYDESK_CONFIG`, else
    /// `./paydesk.toml`).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_layers(&Layers::from_env()?)
    }

    /// Builds the configuration from explicit sources; tests use this to stay independent of the
    /// process environment. `file` is the path and whether it must exist.
    pub fn from_sources(
        file: Option<(PathBuf, bool)>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Self::from_layers(&Layers::from_sources(file, env)?)
    }

    /// Every declared setting with the value in effect and where it came from, secrets masked, for
    /// `paydesk config show`; fails like start-up would on a bad value.
    pub fn show(
        file: Option<(PathBuf, bool)>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Vec<ShownSetting>, ConfigError> {
        let layers = Layers::from_sources(file, env)?;
        let config = Self::from_layers(&layers)?;
        let mut shown: Vec<ShownSetting> = settings::SETTINGS
            .iter()
            .map(|s| {
                let (value, origin) = match (layers.get(s.key), s.default) {
                    (Some(_), _) if s.secret => ("*** (set)".to_string(), layers.origin(s.key)),
                    (Some((raw, _)), _) => (shown(s.key, raw), layers.origin(s.key)),
                    (None, Default::Value(v)) if s.secret => {
                        (format!("{} (default)", mask(v)), "default".into())
                    }
                    (None, Default::Value(v)) => (v.to_string(), "default".into()),
                    (None, Default::Rule(text) | Default::Unset(text)) => {
                        (text.replace('`', ""), "default".into())
                    }
                };
                ShownSetting {
                    name: s.env_name(),
                    value,
                    origin,
                }
            })
            .collect();
        shown.extend(config.unknown_keys.iter().map(|origin| ShownSetting {
            name: origin.clone(),
            value: "(not a paydesk setting: ignored)".into(),
            origin: "unknown".into(),
        }));
        Ok(shown)
    }

    /// `show` for the process environment and config file.
    pub fn show_env() -> Result<Vec<ShownSetting>, ConfigError> {
        let (file, env) = Layers::env_sources();
        Self::show(Some(file), env)
    }

    fn from_layers(layers: &Layers) -> Result<Self, ConfigError> {
        let log_format = match layers.get("log_format") {
            None => LogFormat::Text,
            Some((raw, origin)) => match raw.trim().to_ascii_lowercase().as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(invalid(origin, setting("log_format").expected, raw)),
            },
        };
        let ms = |key: &str| layers.parse::<u64>(key).map(Duration::from_millis);
        let unknown_keys = layers
            .values
            .iter()
            .filter(|(k, _)| !settings::SETTINGS.iter().any(|s| s.key == k.as_str()))
            .map(|(_, (_, origin))| origin.to_string())
            .collect();
        let database: DatabaseUrl = layers.parse("database_url")?;
        // SQLite has one writer: more connections only make writers sleep in SQLite's busy handler
        // (p99 181 ms instead of 35 ms for checkout creation at 16 clients, and 20 MB more memory;
        // docs/PERFORMANCE.md).
        let default_connections = match database.kind {
            DatabaseKind::Sqlite => 4,
            DatabaseKind::Postgres => 16,
        };
        let innopay_api_url = layers.url("innopay_api_url")?;
        let db_max_connections =
            layers.parse_or("db_max_connections", Some(default_connections))?;
        let idle_timeout = positive_secs(layers, "idle_timeout_secs")?;
        let innopay = InnopayConfig {
            api_url: innopay_api_url.clone(),
            js_url: layers.url("innopay_js_url")?,
            connect_timeout: ms("innopay_connect_timeout_ms")?,
            read_timeout: ms("innopay_read_timeout_ms")?,
        };
        // A request waiting on Innopay sends and reads nothing; the idle timeout must not cut it.
        if idle_timeout <= innopay.connect_timeout + innopay.read_timeout {
            // Name the setting that was given (the defaults agree with each other).
            let given = [
                "idle_timeout_secs",
                "innopay_read_timeout_ms",
                "innopay_connect_timeout_ms",
            ]
            .into_iter()
            .find_map(|key| layers.get(key));
            if let Some((raw, origin)) = given {
                return Err(invalid(
                    origin,
                    "PAYDESK_IDLE_TIMEOUT_SECS longer than PAYDESK_INNOPAY_CONNECT_TIMEOUT_MS + \
                     PAYDESK_INNOPAY_READ_TIMEOUT_MS (a request waiting on Innopay moves no byte)",
                    raw,
                ));
            }
        }
        Ok(Self {
            addr: layers.parse("addr")?,
            database,
            public_url: layers.url("public_url")?,
            log_format,
            log_filter: log_filter(layers)?,
            shutdown_timeout: Duration::from_secs(layers.parse("shutdown_timeout_secs")?),
            header_read_timeout: positive_secs(layers, "header_read_timeout_secs")?,
            idle_timeout,
            metrics_token: layers.string("metrics_token").map(SecretString::from),
            db_max_connections,
            innopay,
            sandbox: SandboxConfig {
                enabled: layers.parse_or("sandbox", Some(innopay_api_url.is_none()))?,
                control_token: layers
                    .string("sandbox_control_token")
                    .map(SecretString::from),
                merchant_key: SecretString::from(layers.text("sandbox_merchant_key")),
                cancel_password: SecretString::from(layers.text("sandbox_cancel_password")),
                noti_url: layers.url("sandbox_noti_url")?,
            },
            noti: NotiConfig {
                allow: layers.ranges("innopay_noti_allow")?,
                rate_per_min: layers.parse::<NonZeroU32>("innopay_noti_rate_per_min")?,
            },
            help_dir: layers.string("help_dir").map(PathBuf::from),
            help_analytics_token: layers
                .string("help_analytics_token")
                .map(SecretString::from),
            demo_api_key: layers.string("demo_api_key").map(SecretString::from),
            reconcile_interval: ms("reconcile_interval_ms")?,
            inquiry_grace: ms("inquiry_grace_ms")?,
            call_stale_margin: ms("call_stale_margin_ms")?,
            deposit_check_interval: ms("deposit_check_interval_ms")?,
            webhooks: WebhookConfig {
                poll_interval: ms("webhook_poll_ms")?,
                timeout: ms("webhook_timeout_ms")?,
                retry_scale: positive_scale(layers, "webhook_retry_scale")?,
                secret_overlap: Duration::from_secs(layers.parse("webhook_secret_overlap_secs")?),
                event_settle: ms("webhook_event_settle_ms")?,
                private_networks: layers
                    .parse_or("webhook_private_networks", Some(innopay_api_url.is_none()))?,
            },
            retention: RetentionConfig {
                webhook_attempts: days_at_least(layers, "retention_webhook_attempts_days", 1)?,
                help_analytics: days_at_least(
                    layers,
                    "retention_help_analytics_days",
                    HELP_ANALYTICS_MAX_DAYS,
                )?,
                notis: days_at_least(layers, "retention_notis_days", 1)?,
                purge_interval: Some(ms("purge_interval_ms")?).filter(|d| !d.is_zero()),
            },
            secret_key: secret_key_source(layers)?,
            unknown_keys,
        })
    }

    /// A configuration for tests and tools: defaults everywhere, then the given overrides (keys without
    /// the `PAYDESK_` prefix, e.g. `("database_url", "sqlite://...")`).
    pub fn with_overrides<'a>(
        overrides: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConfigError> {
        Self::from_sources(
            None,
            overrides
                .into_iter()
                .map(|(k, v)| (format!("PAYDESK_{}", k.to_ascii_uppercase()), v.to_string())),
        )
    }
}

/// `tracing` filter directives, refused here rather than ignored when logging starts.
fn log_filter(layers: &Layers) -> Result<String, ConfigError> {
    let filter = layers.text("log");
    match (
        tracing_subscriber::EnvFilter::try_new(&filter),
        layers.get("log"),
    ) {
        (Err(_), Some((raw, origin))) => Err(invalid(origin, setting("log").expected, raw)),
        _ => Ok(filter),
    }
}

/// A whole number of seconds that must not be 0 (a timeout of 0 would close every connection).
fn positive_secs(layers: &Layers, key: &str) -> Result<Duration, ConfigError> {
    match layers.parse(key)? {
        0 => Err(invalid(
            &layers.get(key).expect("0 is never the default").1,
            setting(key).expected,
            "0",
        )),
        secs => Ok(Duration::from_secs(secs)),
    }
}

/// A whole number of days, at least `min`.
fn days_at_least(layers: &Layers, key: &str, min: u64) -> Result<Duration, ConfigError> {
    let days: u64 = layers.parse(key)?;
    match layers.get(key) {
        Some((raw, origin)) if days < min || days > 100 * 366 => {
            Err(invalid(origin, setting(key).expected, raw))
        }
        _ => Ok(Duration::from_secs(days * 86_400)),
    }
}

/// A multiplier that must be a positive, finite number (default 1).
fn positive_scale(layers: &Layers, key: &str) -> Result<f64, ConfigError> {
    let scale: f64 = layers.parse(key)?;
    match layers.get(key) {
        Some((raw, origin)) if !(scale.is_finite() && scale > 0.0) => {
            Err(invalid(origin, setting(key).expected, raw))
        }
        _ => Ok(scale),
    }
}

/// `secret_key` (+ `secret_key_previous`, a comma list) or `secret_key_file`, not both. Key values
/// are never echoed in the error.
fn secret_key_source(layers: &Layers) -> Result<SecretKeySource, ConfigError> {
    let expected = setting("secret_key").expected;
    let key = |raw: &str, origin: &Origin| {
        crate::secrets::parse_key(raw)
            .map(|k| SecretSlice::from(k.to_vec()))
            .ok_or_else(|| invalid(origin, expected, "[redacted]"))
    };
    let file = layers.string("secret_key_file").map(PathBuf::from);
    match (layers.get("secret_key"), file) {
        (Some((_, origin)), Some(_)) => Err(invalid(
            origin,
            "either PAYDESK_SECRET_KEY or PAYDESK_SECRET_KEY_FILE, not both",
            "[redacted]",
        )),
        (None, file) => {
            if let Some((_, origin)) = layers.get("secret_key_previous") {
                return Err(invalid(
                    origin,
                    "PAYDESK_SECRET_KEY next to it (previous keys only decrypt)",
                    "[redacted]",
                ));
            }
            Ok(file.map_or(SecretKeySource::Unset, SecretKeySource::File))
        }
        (Some((raw, origin)), None) => {
            let mut keys = vec![key(raw, origin)?];
            if let Some((raw, origin)) = layers.get("secret_key_previous") {
                for part in raw.split(',').filter(|p| !p.trim().is_empty()) {
                    keys.push(key(part, origin)?);
                }
            }
            Ok(SecretKeySource::Keys(keys))
        }
    }
}

fn read_file_layer(path: &Path, required: bool, layers: &mut Layers) -> Result<(), ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(ConfigError::File {
                path: path.display().to_string(),
                reason: e.to_string(),
            });
        }
    };
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::File {
            path: path.display().to_string(),
            reason: e.message().to_string(),
        })?;
    flatten(&table, "", path, layers);
    Ok(())
}

/// `[innopay] api_url = "..."` becomes `innopay_api_url`, the same key as `PAYDESK_INNOPAY_API_URL`.
fn flatten(table: &toml::Table, prefix: &str, path: &Path, layers: &mut Layers) {
    for (key, value) in table {
        let key = format!("{prefix}{}", key.to_ascii_lowercase());
        let raw = match value {
            toml::Value::Table(inner) => {
                flatten(inner, &format!("{key}_"), path, layers);
                continue;
            }
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let origin = Origin::File(key.clone(), path.to_path_buf());
        layers.values.insert(key, (raw, origin));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_serve_on_sqlite_and_the_sandbox() {
        let config = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!(config.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database.kind, DatabaseKind::Sqlite);
        assert!(config.sandbox.enabled);
        assert!(config.innopay.api_url.is_none());
        assert_eq!(config.db_max_connections, 4, "SQLite has one writer");
        let postgres =
            Config::from_sources(None, env(&[("PAYDESK_DATABASE_URL", "postgres://u@db/x")]))
                .unwrap();
        assert_eq!(postgres.db_max_connections, 16);
    }

    #[test]
    fn a_bad_value_names_the_variable() {
        let err = Config::from_sources(None, env(&[("PAYDESK_ADDR", "nowhere")])).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("invalid PAYDESK_ADDR: expected a socket address"),
            "{message}"
        );

        let err = Config::from_sources(None, env(&[("PAYDESK_DATABASE_URL", "mysql://x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("PAYDESK_DATABASE_URL"), "{err}");
    }

    #[test]
    fn environment_overrides_file_and_file_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("paydesk-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("paydesk.toml");
        std::fs::write(
            &path,
            "addr = \"127.0.0.1:9000\"\nlog_format = \"json\"\n[innopay]\nread_timeout_ms = 1500\n",
        )
        .unwrap();
        let config = Config::from_sources(
            Some((path.clone(), true)),
            env(&[("PAYDESK_ADDR", "127.0.0.1:9001")]),
        )
        .unwrap();
        assert_eq!(config.addr.port(), 9001);
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.innopay.read_timeout, Duration::from_millis(1500));

        std::fs::write(&path, "[innopay]\nread_timeout_ms = \"soon\"\n").unwrap();
        let err = Config::from_sources(Some((path, true)), env(&[])).unwrap_err();
        assert!(
            err.to_string().contains("`innopay_read_timeout_ms` in"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn secrets_never_print() {
        let config = Config::from_sources(
            None,
            env(&[
                ("PAYDESK_SANDBOX_MERCHANT_KEY", "very-secret-key"),
                ("PAYDESK_HELP_ANALYTICS_TOKEN", "analytics-secret"),
                ("PAYDESK_DATABASE_URL", "postgres://u:pw-123@db/x"),
            ]),
        )
        .unwrap();
        let dump = format!("{config:?}");
        assert!(!dump.contains("very-secret-key"), "{dump}");
        assert!(!dump.contains("pw-123"), "{dump}");
        assert_eq!(
            config.sandbox.merchant_key.expose_secret(),
            "very-secret-key"
        );
    }

    #[test]
    fn the_sandbox_is_off_with_a_real_innopay_unless_forced_on() {
        let real = ("PAYDESK_INNOPAY_API_URL", "https://api.innopay.co.kr");
        assert!(
            Config::from_sources(None, env(&[]))
                .unwrap()
                .sandbox
                .enabled
        );
        assert!(
            !Config::from_sources(None, env(&[real]))
                .unwrap()
                .sandbox
                .enabled
        );
        let forced = Config::from_sources(None, env(&[real, ("PAYDESK_SANDBOX", "true")])).unwrap();
        assert!(forced.sandbox.enabled);
        let off = Config::from_sources(None, env(&[("PAYDESK_SANDBOX", "false")])).unwrap();
        assert!(!off.sandbox.enabled);
        assert!(off.sandbox.control_token.is_none());
        let token = env(&[("PAYDESK_SANDBOX_CONTROL_TOKEN", "control-secret")]);
        let config = Config::from_sources(None, token).unwrap();
        assert_eq!(
            config
                .sandbox
                .control_token
                .as_ref()
                .map(|t| t.expose_secret()),
            Some("control-secret")
        );
        assert!(!format!("{config:?}").contains("control-secret"));
    }

    #[test]
    fn private_webhook_addresses_are_allowed_by_default_only_with_the_sandbox() {
        let sandbox = Config::from_sources(None, env(&[])).unwrap();
        assert!(sandbox.webhooks.private_networks);
        let innopay = env(&[("PAYDESK_INNOPAY_API_URL", "https://api.innopay.co.kr")]);
        assert!(
            !Config::from_sources(None, innopay)
                .unwrap()
                .webhooks
                .private_networks
        );
        let explicit = env(&[
            ("PAYDESK_INNOPAY_API_URL", "https://api.innopay.co.kr"),
            ("PAYDESK_WEBHOOK_PRIVATE_NETWORKS", "true"),
        ]);
        assert!(
            Config::from_sources(None, explicit)
                .unwrap()
                .webhooks
                .private_networks
        );
        let refused = env(&[("PAYDESK_WEBHOOK_PRIVATE_NETWORKS", "false")]);
        assert!(
            !Config::from_sources(None, refused)
                .unwrap()
                .webhooks
                .private_networks
        );
    }

    #[test]
    fn webhook_settings_default_to_the_documented_schedule_and_refuse_a_bad_scale() {
        let config = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!(config.webhooks.timeout, Duration::from_secs(15));
        assert_eq!(config.webhooks.poll_interval, Duration::from_secs(1));
        assert_eq!(config.webhooks.retry_scale, 1.0);
        assert_eq!(config.webhooks.secret_overlap, Duration::from_secs(86_400));
        let fast = Config::from_sources(None, env(&[("PAYDESK_WEBHOOK_RETRY_SCALE", "0.001")]));
        assert_eq!(fast.unwrap().webhooks.retry_scale, 0.001);
        for bad in ["0", "-1", "soon", "inf", "NaN"] {
            let err = Config::from_sources(None, env(&[("PAYDESK_WEBHOOK_RETRY_SCALE", bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("PAYDESK_WEBHOOK_RETRY_SCALE"), "{bad}: {err}");
        }
    }

    #[test]
    fn connection_timeouts_default_and_refuse_zero_or_cutting_innopay_calls() {
        let config = Config::from_sources(None, env(&[])).unwrap();
        assert_eq!(config.header_read_timeout, Duration::from_secs(10));
        assert_eq!(config.idle_timeout, Duration::from_secs(60));
        for (key, value) in [
            ("PAYDESK_HEADER_READ_TIMEOUT_SECS", "0"),
            ("PAYDESK_IDLE_TIMEOUT_SECS", "0"),
            ("PAYDESK_IDLE_TIMEOUT_SECS", "23"),
            ("PAYDESK_INNOPAY_READ_TIMEOUT_MS", "58000"),
        ] {
            let err = Config::from_sources(None, env(&[(key, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{key}={value}: {err}");
        }
        let short = env(&[
            ("PAYDESK_IDLE_TIMEOUT_SECS", "5"),
            ("PAYDESK_INNOPAY_READ_TIMEOUT_MS", "1000"),
        ]);
        assert_eq!(
            Config::from_sources(None, short).unwrap().idle_timeout,
            Duration::from_secs(5)
        );
    }

    #[test]
    fn a_database_password_is_kept_apart_and_never_quoted() {
        let url: DatabaseUrl = "postgres://paydesk:p%40ss-42@db:5432/x?sslmode=disable"
            .parse()
            .unwrap();
        let (bare, password) = url.without_password();
        assert_eq!(bare, "postgres://paydesk@db:5432/x?sslmode=disable");
        assert_eq!(password.unwrap().expose_secret(), "p@ss-42");
        let url: DatabaseUrl = "postgres://paydesk@db/x?password=q-42&sslmode=disable"
            .parse()
            .unwrap();
        let (bare, password) = url.without_password();
        assert_eq!(bare, "postgres://paydesk@db/x?sslmode=disable");
        assert_eq!(password.unwrap().expose_secret(), "q-42");
        for malformed in [
            "postgres://paydesk:pw-42@[::1/x",
            "postgres://paydesk:pw-42@db:port/x",
            "mysql://paydesk:pw-42@db/x",
        ] {
            let err = Config::from_sources(None, env(&[("PAYDESK_DATABASE_URL", malformed)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("PAYDESK_DATABASE_URL"), "{err}");
            assert!(!err.contains("pw-42"), "{err}");
        }
    }

    #[test]
    fn noti_senders_are_all_allowed_by_default_and_ranges_parse() {
        let config = Config::from_sources(None, env(&[])).unwrap();
        assert!(config.noti.allow.is_none());
        assert_eq!(config.noti.rate_per_min.get(), 600);
        let config = Config::from_sources(
            None,
            env(&[
                (
                    "PAYDESK_INNOPAY_NOTI_ALLOW",
                    " 203.0.113.0/24, 198.51.100.7,2001:db8::/32 ",
                ),
                ("PAYDESK_INNOPAY_NOTI_RATE_PER_MIN", "30"),
            ]),
        )
        .unwrap();
        let allow: Vec<String> = config
            .noti
            .allow
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            allow,
            vec!["203.0.113.0/24", "198.51.100.7/32", "2001:db8::/32"]
        );
        assert_eq!(config.noti.rate_per_min.get(), 30);
        let blank = env(&[("PAYDESK_INNOPAY_NOTI_ALLOW", " ")]);
        assert!(
            Config::from_sources(None, blank)
                .unwrap()
                .noti
                .allow
                .is_none()
        );
        for (key, bad) in [
            ("PAYDESK_INNOPAY_NOTI_ALLOW", "203.0.113.0/33"),
            ("PAYDESK_INNOPAY_NOTI_ALLOW", "innopay.co.kr"),
            ("PAYDESK_INNOPAY_NOTI_RATE_PER_MIN", "0"),
        ] {
            let err = Config::from_sources(None, env(&[(key, bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(&format!("invalid {key}")), "{bad}: {err}");
        }
    }

    #[test]
    fn secret_keys_come_from_the_variable_or_a_file_never_both_and_never_echoed() {
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let previous = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
        let config = Config::from_sources(None, env(&[])).unwrap();
        assert!(matches!(config.secret_key, SecretKeySource::Unset));
        let config = Config::from_sources(
            None,
            env(&[
                ("PAYDESK_SECRET_KEY", key),
                ("PAYDESK_SECRET_KEY_PREVIOUS", previous),
            ]),
        )
        .unwrap();
        let SecretKeySource::Keys(keys) = &config.secret_key else {
            panic!("{:?}", config.secret_key)
        };
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1].expose_secret(), &[7u8; 32]);
        assert!(!format!("{config:?}").contains(key));
        let file = Config::from_sources(None, env(&[("PAYDESK_SECRET_KEY_FILE", "/k")])).unwrap();
        assert!(matches!(file.secret_key, SecretKeySource::File(p) if p == Path::new("/k")));
        for bad in [
            vec![("PAYDESK_SECRET_KEY", "c2hvcnQ=")],
            vec![
                ("PAYDESK_SECRET_KEY", key),
                ("PAYDESK_SECRET_KEY_FILE", "/k"),
            ],
            vec![("PAYDESK_SECRET_KEY_PREVIOUS", previous)],
            vec![
                ("PAYDESK_SECRET_KEY", key),
                ("PAYDESK_SECRET_KEY_PREVIOUS", "x"),
            ],
        ] {
            let err = Config::from_sources(None, env(&bad))
                .unwrap_err()
                .to_string();
            assert!(err.contains("PAYDESK_SECRET_KEY"), "{err}");
            assert!(!err.contains(key) && !err.contains(previous), "{err}");
        }
    }

    #[test]
    fn retention_defaults_and_minimums() {
        let config = Config::from_sources(None, env(&[])).unwrap();
        let day = Duration::from_secs(86_400);
        assert_eq!(
            config.retention,
            RetentionConfig {
                webhook_attempts: 90 * day,
                help_analytics: 365 * day,
                notis: 365 * day,
                purge_interval: None,
            }
        );
        let config = Config::from_sources(
            None,
            env(&[
                ("PAYDESK_RETENTION_WEBHOOK_ATTEMPTS_DAYS", "1"),
                ("PAYDESK_RETENTION_HELP_ANALYTICS_DAYS", "365"),
                ("PAYDESK_RETENTION_NOTIS_DAYS", "30"),
                ("PAYDESK_PURGE_INTERVAL_MS", "3600000"),
            ]),
        )
        .unwrap();
        assert_eq!(config.retention.webhook_attempts, day);
        assert_eq!(config.retention.notis, 30 * day);
        assert_eq!(
            config.retention.purge_interval,
            Some(Duration::from_secs(3600))
        );
        let off = env(&[("PAYDESK_PURGE_INTERVAL_MS", "0")]);
        assert_eq!(
            Config::from_sources(None, off)
                .unwrap()
                .retention
                .purge_interval,
            None
        );
        for (key, bad) in [
            ("PAYDESK_RETENTION_HELP_ANALYTICS_DAYS", "364"),
            ("PAYDESK_RETENTION_WEBHOOK_ATTEMPTS_DAYS", "0"),
            ("PAYDESK_RETENTION_NOTIS_DAYS", "-1"),
            ("PAYDESK_RETENTION_NOTIS_DAYS", "99999999999"),
            ("PAYDESK_PURGE_INTERVAL_MS", "daily"),
        ] {
            let err = Config::from_sources(None, env(&[(key, bad)]))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("invalid {key}: expected")),
                "{bad}: {err}"
            );
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn unknown_settings_are_reported() {
        let config = Config::from_sources(
            None,
            env(&[
                ("PAYDESK_ADRR", "127.0.0.1:1"),
                ("PAYDESK_TEST_POSTGRES_URL", "postgres://127.0.0.1/x"),
            ]),
        )
        .unwrap();
        assert_eq!(config.unknown_keys, vec!["PAYDESK_ADRR".to_string()]);
    }
}
