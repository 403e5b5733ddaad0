//! Every setting paydesk reads, declared once: its key, default, what a value must be, what it does,
//! and whether it is secret. The loader (`Config::from_layers`), the warning about unknown keys,
//! `paydesk config show` and the README's settings table all come from [`SETTINGS`]; a test fails
//! when the README and this table differ.

/// A setting's default, as the loader applies it and the README states it.
#[derive(Clone, Copy, Debug)]
pub enum Default {
    /// Parsed like a given value when the setting is absent.
    Value(&'static str),
    /// Computed by the loader from other settings; the text says how.
    Rule(&'static str),
    /// Absent means what the text says.
    Unset(&'static str),
}

/// Who reads a setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadBy {
    /// `Config`, for every command.
    Server,
    /// One command's arguments (clap's `env`), not `Config`.
    Command,
    /// The test suite.
    Tests,
}

/// One setting. Its environment variable is `PAYDESK_` + `key` upper-cased; in `paydesk.toml` the key
/// is written as is, or nested (`[innopay] api_url` = `innopay_api_url`).
#[derive(Clone, Copy, Debug)]
pub struct Setting {
    pub key: &'static str,
    pub default: Default,
    /// What a value must be; quoted in the one-line error about a bad value.
    pub expected: &'static str,
    /// What it does (Markdown), for the README.
    pub doc: &'static str,
    /// Never printed: `config show` masks it.
    pub secret: bool,
    pub read_by: ReadBy,
}

impl Setting {
    pub fn env_name(&self) -> String {
        format!("PAYDESK_{}", self.key.to_ascii_uppercase())
    }
}

/// The declaration of `key`. Every key the program reads is declared; an undeclared one is a bug,
/// which the configuration tests reach.
pub fn setting(key: &str) -> &'static Setting {
    SETTINGS
        .iter()
        .find(|s| s.key == key)
        .unwrap_or_else(|| panic!("setting {key:?} is not declared in config::settings::SETTINGS"))
}

/// The README's settings table, generated.
pub fn readme_table() -> String {
    let mut table = String::from("| variable | default | meaning |\n| --- | --- | --- |\n");
    for s in SETTINGS {
        let default = match s.default {
            Default::Value(v) => format!("`{v}`"),
            Default::Rule(text) | Default::Unset(text) => text.to_string(),
        };
        table.push_str(&format!("| `{}` | {default} | {} |\n", s.env_name(), s.doc));
    }
    table
}

pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "addr",
        default: Default::Value("127.0.0.1:8080"),
        expected: "a socket address such as 127.0.0.1:8080",
        doc: "address to listen on",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "database_url",
        default: Default::Value("sqlite://paydesk.db?mode=rwc"),
        expected: "a sqlite://FILE?mode=rwc or postgres://USER@HOST:PORT/DB URL",
        doc: "`sqlite://FILE?mode=rwc` or `postgres://USER[:PASS]@HOST:PORT/DB`",
        secret: true,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "public_url",
        default: Default::Unset("`http://<bound address>`"),
        expected: "an absolute http(s) URL",
        doc: "base URL browsers and Innopay use to reach paydesk",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "log_format",
        default: Default::Value("text"),
        expected: "`text` or `json`",
        doc: "`text` or `json`",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "log",
        default: Default::Value("info,sqlx=warn,tantivy=warn"),
        expected: "tracing filter directives such as info,paydesk=debug",
        doc: "log filter (tracing `EnvFilter` syntax)",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "shutdown_timeout_secs",
        default: Default::Value("20"),
        expected: "a whole number of seconds",
        doc: "how long in-flight requests may finish after SIGINT/SIGTERM",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "header_read_timeout_secs",
        default: Default::Value("10"),
        expected: "a whole number of seconds, at least 1",
        doc: "a client must send a request's headers (and, on a kept-alive connection, start the next request) within this",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "idle_timeout_secs",
        default: Default::Value("60"),
        expected: "a whole number of seconds, at least 1",
        doc: "a connection that moves no byte for this long is closed; must exceed the Innopay connect + read timeouts",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "metrics_token",
        default: Default::Unset("unset (open)"),
        expected: "a bearer token",
        doc: "bearer token `/metrics` then requires (`401 invalid_metrics_token` without it)",
        secret: true,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "db_max_connections",
        default: Default::Rule("`16` (PostgreSQL), `4` (SQLite)"),
        expected: "a positive whole number",
        doc: "database pool size; SQLite has one writer, so more connections only wait longer",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "innopay_api_url",
        default: Default::Unset("built-in sandbox (`<public url>/sandbox`)"),
        expected: "an absolute http(s) URL",
        doc: "Innopay API base; production `https://api.innopay.co.kr`",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "innopay_js_url",
        default: Default::Unset("built-in sandbox's `innopay.js`"),
        expected: "an absolute http(s) URL",
        doc: "payment window SDK; production `https://pg.innopay.co.kr/tpay/js/innopay.js`",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "innopay_connect_timeout_ms",
        default: Default::Value("3000"),
        expected: "a whole number of milliseconds",
        doc: "connect timeout to Innopay",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "innopay_read_timeout_ms",
        default: Default::Value("20000"),
        expected: "a whole number of milliseconds",
        doc: "after this an approval's outcome is \"unknown\" and is resolved by inquiry",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "innopay_noti_allow",
        default: Default::Unset("unset (every address)"),
        expected: "comma-separated addresses or CIDR ranges such as 203.0.113.0/24",
        doc: "comma-separated addresses or CIDR ranges that may post Noti to `/innopay/noti`; others get 403 unread. The TCP peer's address: paydesk reads no forwarding header, so behind a proxy list the proxy",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "innopay_noti_rate_per_min",
        default: Default::Value("600"),
        expected: "a whole number of Noti per minute, at least 1",
        doc: "Noti accepted per minute from one address (IPv6: one /64) on each instance, as a burst of this many refilled evenly; past it 429, unread (Innopay resends)",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "reconcile_interval_ms",
        default: Default::Value("2000"),
        expected: "a whole number of milliseconds",
        doc: "how often each instance's reconciler expires abandoned checkouts and resolves `unknown` payments and unconfirmed cancels",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "inquiry_grace_ms",
        default: Default::Value("60000"),
        expected: "a whole number of milliseconds",
        doc: "how long after an approval attempt an inquiry's \"no such transaction\" is not yet believed (the approval may still be in flight)",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "call_stale_margin_ms",
        default: Default::Value("15000"),
        expected: "a whole number of milliseconds",
        doc: "how long past the Innopay read timeout an Innopay call still marked in flight is presumed orphaned (its instance died) and handed to the reconciler; covers clock skew between instances and a slow database write",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "deposit_check_interval_ms",
        default: Default::Value("600000"),
        expected: "a whole number of milliseconds",
        doc: "how often an issued virtual account is checked at Innopay for a deposit whose Noti never came (it is checked at its deadline in any case)",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "sandbox",
        default: Default::Rule("`true` without `PAYDESK_INNOPAY_API_URL`, else `false`"),
        expected: "`true` or `false`",
        doc: "mount the Innopay sandbox at `/sandbox`; `true` with a real Innopay forces it on (start-up warns)",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "sandbox_control_token",
        default: Default::Unset("unset"),
        expected: "a bearer token",
        doc: "bearer token for the sandbox's control API; unset, it is open only while the sandbox is reachable on loopback alone (see `docs/SANDBOX.md`)",
        secret: true,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "sandbox_merchant_key",
        default: Default::Value(super::DEFAULT_SANDBOX_MERCHANT_KEY),
        expected: "a Merchant-Key",
        doc: "sandbox Merchant-Key of `testpay01m`",
        secret: true,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "sandbox_cancel_password",
        default: Default::Value(super::DEFAULT_SANDBOX_CANCEL_PASSWORD),
        expected: "a cancel password",
        doc: "sandbox cancel password of `testpay01m`",
        secret: true,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "sandbox_noti_url",
        default: Default::Unset("`<public url>/innopay/noti`"),
        expected: "an absolute http(s) URL",
        doc: "where the sandbox POSTs Noti for merchants without their own URL (see `docs/SANDBOX.md`)",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "webhook_poll_ms",
        default: Default::Value("1000"),
        expected: "a whole number of milliseconds",
        doc: "how often each instance looks for webhook deliveries that are due",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "webhook_timeout_ms",
        default: Default::Value("15000"),
        expected: "a whole number of milliseconds",
        doc: "longest one webhook attempt may take",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "webhook_retry_scale",
        default: Default::Value("1"),
        expected: "a positive number such as 1 or 0.001",
        doc: "multiplies the retry schedule (30 s doubling to 6 h, given up after 3 days); tests use `0.001`",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "webhook_secret_overlap_secs",
        default: Default::Value("86400"),
        expected: "a whole number of seconds",
        doc: "how long the previous signing secret keeps signing after a rotation",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "webhook_event_settle_ms",
        default: Default::Value("2000"),
        expected: "a whole number of milliseconds",
        doc: "`GET /v1/events` lists an event only once it is this old: transactions commit out of order, and a cursor past an event another transaction had not yet committed would skip it for good. Longer than any payment transaction takes; tests shorten it",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "webhook_private_networks",
        default: Default::Rule(
            "`true` with the built-in sandbox, `false` once `PAYDESK_INNOPAY_API_URL` is set",
        ),
        expected: "`true` or `false`",
        doc: "whether webhook endpoints (and the sandbox's Noti URLs) may be loopback, private or link-local addresses (see `docs/WEBHOOKS.md`)",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "help_dir",
        default: Default::Unset("built-in articles"),
        expected: "a folder",
        doc: "serve help articles from this folder instead (reloaded on SIGHUP; see `docs/help/README.md`)",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "help_analytics_token",
        default: Default::Unset("unset (report disabled)"),
        expected: "a bearer token",
        doc: "bearer token for `GET /v1/help/analytics`, the content team's search report",
        secret: true,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "retention_webhook_attempts_days",
        default: Default::Value("90"),
        expected: "a whole number of days, at least 1",
        doc: "`paydesk purge` removes the attempt log of webhook deliveries that finished (delivered or given up) this many days ago; the delivery stays with its attempt count, last status and error. 90 days outlasts a storefront's questions about a month's settlement",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "retention_help_analytics_days",
        default: Default::Value("365"),
        expected: "a whole number of days, at least 365 (the longest period of the help analytics report)",
        doc: "help searches, article views and feedback older than this are purged; at least 365, the longest period `GET /v1/help/analytics` reports",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "retention_notis_days",
        default: Default::Value("365"),
        expected: "a whole number of days, at least 1",
        doc: "settled Noti (applied, duplicate, deferred) older than this are purged; flagged and never-judged ones are kept. What an applied Noti changed stays in the payment's events; a year keeps the raw fields through card disputes and a yearly settlement check. Payments and their events are never purged (Korean e-commerce law: five years)",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "purge_interval_ms",
        default: Default::Value("0"),
        expected: "a whole number of milliseconds (0: off)",
        doc: "how often each instance runs the purge itself; `0` leaves it to `paydesk purge` (e.g. a daily cron job). Instances purging at once is harmless",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "demo_api_key",
        default: Default::Unset("random"),
        expected: "an API key",
        doc: "fixes the demo storefront's test API key",
        secret: true,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "secret_key",
        default: Default::Unset("unset"),
        expected: "base64 of 32 random bytes (e.g. `openssl rand -base64 32`)",
        doc: "base64 of 32 random bytes (`openssl rand -base64 32`): encrypts stored merchant keys, cancel passwords and signing secrets; every instance on one database needs the same",
        secret: true,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "secret_key_previous",
        default: Default::Unset("unset"),
        expected: "comma-separated base64 keys",
        doc: "comma-separated older keys, used only to decrypt (during a rotation)",
        secret: true,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "secret_key_file",
        default: Default::Unset("unset; on SQLite `paydesk.key` next to the database, generated"),
        expected: "a file path",
        doc: "instead of the two above: a file with one base64 key per line, the first encrypts; re-read when it changes",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "config",
        default: Default::Unset("`paydesk.toml` in the working directory, if there"),
        expected: "a file path",
        doc: "the configuration file to read (then it must exist); environment variables override it",
        secret: false,
        read_by: ReadBy::Server,
    },
    Setting {
        key: "storefront_merchant_key",
        default: Default::Unset("unset"),
        expected: "an Innopay Merchant-Key",
        doc: "`paydesk storefront create` only: the new storefront's Innopay Merchant-Key, instead of `--merchant-key` (command lines are visible to other users)",
        secret: true,
        read_by: ReadBy::Command,
    },
    Setting {
        key: "storefront_cancel_password",
        default: Default::Unset("unset"),
        expected: "an Innopay cancel password",
        doc: "`paydesk storefront create` only: the new storefront's Innopay cancel password, instead of `--cancel-password`",
        secret: true,
        read_by: ReadBy::Command,
    },
    Setting {
        key: "console_password",
        default: Default::Unset("unset"),
        expected: "a password of at least 10 characters",
        doc: "`paydesk console user add` and `reset-password` only: the user's password, instead of `--password` (command lines are visible to other users)",
        secret: true,
        read_by: ReadBy::Command,
    },
    Setting {
        key: "test_postgres_url",
        default: Default::Unset("unset (PostgreSQL tests skipped)"),
        expected: "a postgres://USER@HOST:PORT/DB URL",
        doc: "`cargo test` only: a PostgreSQL server the suite may create throwaway databases on",
        secret: true,
        read_by: ReadBy::Tests,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_table_is_the_declared_settings() {
        let readme = include_str!("../../README.md");
        let start = "<!-- settings table: generated by `paydesk config docs` -->\n";
        let section = readme
            .split_once(start)
            .and_then(|(_, rest)| rest.split_once("<!-- end of settings table -->"))
            .map(|(table, _)| table)
            .expect("README.md has the settings table markers");
        assert!(
            section == readme_table(),
            "README.md's settings table differs from config::settings::SETTINGS; replace it with \
             the output of `cargo run -q -- config docs`"
        );
    }

    #[test]
    fn keys_are_unique_lower_snake_case_and_documented() {
        let mut seen = std::collections::HashSet::new();
        for s in SETTINGS {
            assert!(seen.insert(s.key), "{} declared twice", s.key);
            assert!(
                s.key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                s.key
            );
            assert!(!s.doc.is_empty() && !s.expected.is_empty(), "{}", s.key);
        }
    }
}
