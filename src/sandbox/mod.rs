//! The Innopay sandbox: a stateful, in-memory simulator of Innopay's payment window, approval, cancel,
//! inquiry and Noti, for cards and virtual accounts (VBANK: issue, deposits, closing, refunds),
//! with fault injection, so tests, demos and newcomers never touch the live hosts
//! (Innopay has no test host; the test MID runs on the live ones). Mounted at `/sandbox` on the main
//! server, or served alone by `paydesk sandbox`. No real money moves through it. `docs/SANDBOX.md`
//! describes every route.

mod api;
mod control;
mod faults;
mod noti;
mod params;
mod state;
mod window;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::{Endpoint, EndpointExt, Route, Server};

use crate::api::{BodyLimit, RequestIdMiddleware};
use crate::config::{Config, ExposeSecret, SecretString};

pub use control::ControlError;
pub use faults::{Api, Fault, FaultKind};
pub use params::LIMITS;
pub use state::{
    MAX_ANSWER_CHARS, MAX_AUTHENTICATIONS, MAX_CALLS, MAX_CANCEL_MSG_CHARS, MAX_NOTIS,
    MAX_TRANSACTIONS, Settings, TEST_MID,
};

use state::{MerchantAccount, State};

/// Shown on every sandbox page.
pub const BANNER: &str = "이노페이 샌드박스(테스트) 결제창입니다. 실제 돈은 오가지 않습니다. \
                          가상계좌도 실제 은행 계좌가 아닙니다. \
                          · Innopay sandbox: no real money moves.";

/// A handle on one sandbox's state. Cheap to clone.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// `testpay01m` as configured, restored by a reset.
    test_merchant: MerchantAccount,
    /// Where Noti go for merchants without their own URL.
    default_noti_url: Option<String>,
    /// The sandbox as browsers reach it, e.g. `http://127.0.0.1:8080/sandbox`.
    base_url: String,
    /// For Noti: never follows redirects; with private networks refused, public addresses only.
    http: reqwest::Client,
    /// `PAYDESK_WEBHOOK_PRIVATE_NETWORKS`: whether Noti may go to loopback or private addresses.
    private_networks: bool,
    /// `PAYDESK_SANDBOX_CONTROL_TOKEN`.
    control_token: Option<SecretString>,
    /// Only this machine reaches the sandbox: bound to loopback, and browsers use a loopback URL.
    local_only: bool,
    /// Where the window may send any merchant's shoppers back to: the sandbox's own origin and
    /// paydesk's public URL.
    own_origins: Vec<url::Origin>,
    next_noti_id: AtomicU64,
}

/// Whether only this machine can reach a server bound to `bound` that browsers reach at `base_url`.
/// A loopback listener behind a public URL (a reverse proxy on the same host) is not local.
fn local_only(bound: SocketAddr, base_url: &url::Url) -> bool {
    let loopback_url = match base_url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    bound.ip().is_loopback() && loopback_url
}

impl Sandbox {
    /// A fresh sandbox listening on `bound` and reachable at `base_url` (ending in `/sandbox`).
    pub fn new(
        config: &Config,
        base_url: &str,
        default_noti_url: Option<String>,
        bound: SocketAddr,
    ) -> Self {
        let sandbox = &config.sandbox;
        let test_merchant = MerchantAccount {
            merchant_key: sandbox.merchant_key.expose_secret().to_string(),
            cancel_password: sandbox.cancel_password.expose_secret().to_string(),
            display_name: state::DEFAULT_DISPLAY_NAME.to_string(),
            noti_url: None,
            return_origins: Vec::new(),
        };
        let base_url = base_url.trim_end_matches('/').to_string();
        let parsed = url::Url::parse(&base_url).expect("the sandbox's base URL is absolute");
        let mut own_origins = vec![parsed.origin()];
        own_origins.extend(config.public_url.as_ref().map(url::Url::origin));
        let private_networks = config.webhooks.private_networks;
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::new(
                    test_merchant.clone(),
                    Settings::default(),
                    base_url.clone(),
                )),
                test_merchant,
                default_noti_url,
                http: crate::webhooks::destination::outbound_client(private_networks)
                    .timeout(Duration::from_secs(10))
                    .build()
                    .expect("the TLS provider is installed before the sandbox starts"),
                private_networks,
                control_token: sandbox.control_token.clone(),
                local_only: local_only(bound, &parsed),
                own_origins,
                base_url,
                next_noti_id: AtomicU64::new(0),
            }),
        }
    }

    /// The sandbox of the main server (listening on `bound`): at `{public_url}/sandbox`, Noti to the
    /// configured URL or to paydesk's own receiver.
    pub fn for_app(config: &Config, public_url: &str, bound: SocketAddr) -> Self {
        let noti = config
            .sandbox
            .noti_url
            .as_ref()
            .map(|u| u.to_string())
            .unwrap_or_else(|| format!("{public_url}/innopay/noti"));
        Self::new(config, &format!("{public_url}/sandbox"), Some(noti), bound)
    }

    /// Whether people other than this machine's may use the sandbox: it is not local only, or a
    /// control token says so. Then the control API needs the token and the window only returns
    /// shoppers to known origins.
    fn exposed(&self) -> bool {
        !self.inner.local_only || self.inner.control_token.is_some()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .expect("sandbox state lock poisoned")
    }

    /// Forgets everything: authentications, transactions, faults, calls, Noti, extra merchants and
    /// settings. `testpay01m` comes back as configured.
    pub fn reset(&self) {
        *self.lock() = State::new(
            self.inner.test_merchant.clone(),
            Settings::default(),
            self.inner.base_url.clone(),
        );
    }

    /// The routes, relative to where they are mounted (`/sandbox`).
    pub fn routes(&self) -> impl Endpoint + 'static {
        let routes = window::routes(Route::new());
        let routes = api::routes(routes);
        control::routes(routes).data(self.clone())
    }

    /// The start-up line that makes it obvious no real money moves.
    pub fn announce(&self) {
        tracing::warn!(
            url = %self.inner.base_url,
            noti_url = self.inner.default_noti_url.as_deref().unwrap_or("none"),
            "Innopay SANDBOX active: simulated payments only, no real money moves"
        );
        if self.inner.control_token.is_none() && !self.inner.local_only {
            tracing::warn!(
                "the sandbox control API answers 403: this sandbox is reachable beyond loopback; \
                 set PAYDESK_SANDBOX_CONTROL_TOKEN to use it"
            );
        }
    }
}

/// `paydesk sandbox`: the sandbox alone, on its own listener, at the same `/sandbox` paths.
pub struct Standalone {
    acceptor: TcpAcceptor,
    sandbox: Sandbox,
    url: String,
}

impl Standalone {
    pub async fn bind(config: &Config, addr: SocketAddr) -> std::io::Result<Self> {
        let acceptor = TcpListener::bind(addr).into_acceptor().await?;
        let bound = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .unwrap_or(addr);
        let url = format!("http://{bound}/sandbox");
        // Alone, the sandbox only knows paydesk's address if it is configured.
        let noti = config
            .sandbox
            .noti_url
            .as_ref()
            .map(|u| u.to_string())
            .or_else(|| {
                config
                    .public_url
                    .as_ref()
                    .map(|u| format!("{}/innopay/noti", u.as_str().trim_end_matches('/')))
            });
        Ok(Self {
            acceptor,
            sandbox: Sandbox::new(config, &url, noti, bound),
            url,
        })
    }

    /// E.g. `http://127.0.0.1:8090/sandbox`: what paydesk's `PAYDESK_INNOPAY_API_URL` should be.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        self.sandbox.announce();
        let endpoint = Route::new()
            .nest("/sandbox", self.sandbox.routes())
            .with(BodyLimit(crate::app::MAX_BODY_BYTES))
            .with(RequestIdMiddleware);
        Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(endpoint, shutdown, Some(Duration::from_secs(5)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_loopback_listener_behind_a_loopback_url_is_local() {
        let local = |bound: &str, url: &str| {
            local_only(bound.parse().unwrap(), &url::Url::parse(url).unwrap())
        };
        assert!(local("127.0.0.1:8080", "http://127.0.0.1:8080/sandbox"));
        assert!(local("[::1]:8080", "http://localhost:8080/sandbox"));
        assert!(!local("0.0.0.0:8080", "http://127.0.0.1:8080/sandbox"));
        assert!(!local("10.0.0.5:8080", "http://10.0.0.5:8080/sandbox"));
        // A reverse proxy on the same host makes a loopback listener public.
        assert!(!local("127.0.0.1:8080", "https://pay.example.com/sandbox"));
    }
}
