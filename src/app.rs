//! Assembles the service: opens the store, applies migrations, binds the listener, and composes every
//! module's routes behind the shared middleware. `App::build` is what `paydesk serve` and the tests call.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::OpenApiService;
use tokio::net::TcpListener;

use crate::api::{AllowHeader, BodyLimit, RequestIdMiddleware};
use crate::checkout::{self, CheckoutApi, CheckoutService};
use crate::clock::Clock;
use crate::config::{Config, ConfigError, SecretString};
use crate::gateway::{self, InnopayClient};
use crate::help::{
    HelpApi, HelpError, HelpHandle, HelpSource, PublicHelpCors, SearchLog, SearchLogWriter,
};
use crate::noti;
use crate::ops::{Metrics, MetricsMiddleware, OpsApi};
use crate::pages::SecurityHeaders;
use crate::sandbox::Sandbox;
use crate::secrets::Secrets;
use crate::store::Store;
use crate::store::storefronts::Reencrypt;
use crate::storefronts;
use crate::webhooks::{self, WebhookService, WebhooksApi};

/// Largest request body paydesk reads; larger ones get 413 `payload_too_large`.
pub(crate) const MAX_BODY_BYTES: usize = 256 * 1024;

/// Why the service could not start. Each message names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the database named by PAYDESK_DATABASE_URL: {0}")]
    Database(String),
    #[error("cannot apply database migrations: {0}")]
    Migrations(String),
    #[error("cannot load the help articles (PAYDESK_HELP_DIR): {0}")]
    Help(#[from] HelpError),
    #[error("cannot listen on PAYDESK_ADDR={addr}: {reason}")]
    Bind { addr: SocketAddr, reason: String },
    #[error("cannot set up the demo storefront: {0}")]
    Demo(String),
    #[error("{0}")]
    Webhooks(String),
    #[error("{0}")]
    Secrets(String),
}

/// Help searches that may wait to be written; about 10,000 × 200 bytes at most. A second of searches
/// at full speed fits, so only a stalled database makes the log drop records.
const SEARCH_LOG_QUEUE: usize = 10_000;

/// What request handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    /// Base URL browsers and Innopay use to reach this server (no trailing slash).
    pub public_url: Arc<str>,
    /// This app's own metrics registry (see `ops::metrics`).
    pub metrics: Metrics,
    /// The Innopay API client (the built-in sandbox unless `PAYDESK_INNOPAY_API_URL` is set).
    pub gateway: InnopayClient,
    pub checkout: CheckoutService,
    pub webhooks: WebhookService,
    /// The demo storefront's key, on the embedded default only (the demo shop uses it).
    pub demo_api_key: Option<SecretString>,
    /// The help centre; `help.current()` is the article set in use (swapped whole on reload).
    pub help: HelpHandle,
    /// Where help searches are recorded for analytics, off the request path.
    pub search_log: SearchLog,
}

/// A built, bound, not yet serving paydesk.
pub struct App {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
    /// Mounted at `/sandbox` when `PAYDESK_SANDBOX` is on.
    sandbox: Option<Sandbox>,
    /// Started with the other background tasks in `run_until`.
    search_log_writer: SearchLogWriter,
}

/// Every JSON API of paydesk; the OpenAPI document is generated from these.
type Apis = (OpsApi, CheckoutApi, WebhooksApi, HelpApi);

fn apis() -> Apis {
    (OpsApi, CheckoutApi, WebhooksApi, HelpApi)
}

/// The OpenAPI service, described for `server_url`.
fn api_service(server_url: &str) -> OpenApiService<Apis, ()> {
    OpenApiService::new(apis(), "paydesk", env!("CARGO_PKG_VERSION"))
        .description(
            "paydesk sits between Korean storefronts and the Innopay payment gateway. Storefronts \
             create checkouts, paydesk approves payments server-side, records every state change and \
             tells the storefront. Every error has the same JSON envelope: \
             `{\"error\": {\"type\", \"code\", \"message\", \"param\", \"requestId\", \"retryable\", \
             \"nextAction\"}}`.",
        )
        .server(server_url)
}

/// The OpenAPI document as JSON, independent of any database or listener (for `paydesk openapi` and
/// the drift test). The server URL is left relative so the document is the same everywhere.
pub fn openapi_json() -> String {
    api_service("/").spec()
}

/// The same document as YAML.
pub fn openapi_yaml() -> String {
    api_service("/").spec_yaml()
}

impl App {
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        Self::build_with_clock(config, Clock::system()).await
    }

    /// `build`, with every time-dependent part of the app reading `clock` (tests move it forward).
    pub async fn build_with_clock(config: Config, clock: Clock) -> Result<Self, StartupError> {
        // Articles first: a broken PAYDESK_HELP_DIR should stop start-up before anything is opened.
        let help = HelpHandle::load(HelpSource::from_dir(config.help_dir.clone()))?;
        let secrets = Secrets::load(&config).map_err(|e| StartupError::Secrets(e.to_string()))?;
        if let Some(notice) = secrets.generated_notice() {
            tracing::warn!("{notice}");
        }
        let store = Store::connect(&config.database, config.db_max_connections)
            .await
            .map_err(|e| StartupError::Database(one_line(&e.to_string())))?
            .with_secrets(secrets)
            .with_publisher(webhooks::publisher())
            .with_clock(clock);
        store
            .migrate_up()
            .await
            .map_err(|e| StartupError::Migrations(one_line(&e.to_string())))?;
        // Refuses a key that cannot read what is stored, and encrypts values from before encryption.
        store
            .reencrypt_secrets(Reencrypt::Plaintext)
            .await
            .map_err(|e| StartupError::Secrets(one_line(&e.to_string())))?;
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|e| StartupError::Bind {
                addr: config.addr,
                reason: e.to_string(),
            })?;
        let addr = listener.local_addr().unwrap_or(config.addr);
        let public_url = config
            .public_url
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("http://{addr}"));
        // The demo shop exists only where no real Innopay is configured: nothing real can be charged.
        let demo_api_key = if config.sandbox.enabled && config.innopay.api_url.is_none() {
            let key = storefronts::ensure_demo(&store, &config)
                .await
                .map_err(|e| StartupError::Demo(e.to_string()))?;
            // The demo shop is paydesk's own home page; its address follows the public URL.
            storefronts::set_shop_url(
                &store,
                storefronts::DEMO_STOREFRONT_ID,
                &format!("{public_url}/"),
            )
            .await
            .map_err(|e| StartupError::Demo(e.to_string()))?;
            Some(key)
        } else {
            None
        };
        let metrics = Metrics::new();
        let gateway = InnopayClient::from_config(&config.innopay, &public_url);
        let sdk_url = gateway::js_url(&config.innopay, &public_url);
        let checkout = CheckoutService::new(
            store.clone(),
            gateway.clone(),
            public_url.clone().into(),
            sdk_url.as_str(),
            &config,
        )
        .with_metrics(metrics.clone());
        let webhooks = WebhookService::new(store.clone(), config.webhooks.clone())
            .map_err(StartupError::Webhooks)?
            .with_metrics(metrics.clone());
        let sandbox = config
            .sandbox
            .enabled
            .then(|| Sandbox::for_app(&config, &public_url, addr));
        let (search_log, search_log_writer) =
            crate::help::search_log(store.clone(), SEARCH_LOG_QUEUE);
        let search_log = search_log.with_metrics(metrics.clone());
        let state = AppState {
            gateway,
            config: Arc::new(config),
            store,
            public_url: public_url.into(),
            metrics,
            checkout,
            webhooks,
            demo_api_key,
            help,
            search_log,
        };
        Ok(Self {
            listener,
            addr,
            state,
            sandbox,
            search_log_writer,
        })
    }

    /// The address actually bound (tests bind port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn public_url(&self) -> &str {
        &self.state.public_url
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    fn endpoint(&self) -> impl Endpoint + 'static {
        let service = api_service(&self.state.public_url);
        let allow = AllowHeader::from_spec(&service.spec());
        let demo = self.state.demo_api_key.is_some();
        let mut routes = crate::help::mount_pages(Route::new())
            .at("/openapi.json", service.spec_endpoint())
            .at("/openapi.yaml", service.spec_endpoint_yaml())
            .nest(
                "/docs",
                crate::api::docs_page::routes(&service.swagger_ui_html()),
            );
        if let Some(sandbox) = &self.sandbox {
            routes = routes.nest("/sandbox", sandbox.routes());
        }
        routes = routes.nest("/console", crate::console::routes());
        let routes = noti::routes(checkout::page_routes(routes, demo), &self.state.config.noti)
            .nest("/", service);
        RootSplit {
            root: checkout::home_page(demo),
            rest: routes,
        }
        .with(BodyLimit(MAX_BODY_BYTES))
        .with(SecurityHeaders::new(
            &url::Url::parse(self.state.checkout.sdk_url()).expect("the SDK URL is absolute"),
        ))
        .data(self.state.clone())
        .with(RequestIdMiddleware)
        .with(PublicHelpCors)
        .with(allow)
        .with(MetricsMiddleware(self.state.metrics.clone()))
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish (bounded
    /// by the configured timeout) and closes the database pool.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let endpoint = self.endpoint();
        let timeout = self.state.config.shutdown_timeout;
        let (stop_workers, workers_stop) = tokio::sync::watch::channel(false);
        let reconciler = checkout::spawn_reconciler(
            self.state.checkout.clone(),
            self.state.config.reconcile_interval,
            workers_stop.clone(),
        );
        let delivery =
            webhooks::spawn_delivery_worker(self.state.webhooks.clone(), workers_stop.clone());
        let purger = crate::retention::spawn_purger(
            self.state.store.clone(),
            self.state.config.retention.clone(),
            workers_stop.clone(),
        );
        let search_log = self.search_log_writer.spawn(workers_stop);
        tracing::info!(addr = %self.addr, public_url = %self.state.public_url, "paydesk serving");
        if let Some(sandbox) = &self.sandbox {
            sandbox.announce();
            if self.state.config.innopay.api_url.is_some() {
                tracing::warn!(
                    "PAYDESK_SANDBOX=true FORCES the simulated Innopay on at /sandbox while \
                     PAYDESK_INNOPAY_API_URL points at another Innopay; never do this in production"
                );
            }
        }
        let limits = crate::server::ConnectionLimits {
            header_read: self.state.config.header_read_timeout,
            idle: self.state.config.idle_timeout,
        };
        let result = crate::server::serve(self.listener, endpoint, limits, shutdown, timeout).await;
        let _ = stop_workers.send(true);
        let _ = reconciler.await;
        let _ = delivery.await;
        let _ = search_log.await;
        if let Some(purger) = purger {
            let _ = purger.await;
        }
        self.state.store.close().await;
        tracing::info!("paydesk stopped");
        result
    }
}

/// Sends exactly `/` to `root` and every other path to `rest` (poem cannot route `/` next to an
/// OpenAPI service nested at `/`).
struct RootSplit<A, B> {
    root: A,
    rest: B,
}

impl<A: Endpoint, B: Endpoint> Endpoint for RootSplit<A, B> {
    type Output = poem::Response;

    async fn call(&self, req: poem::Request) -> poem::Result<poem::Response> {
        use poem::IntoResponse;
        if req.uri().path() == "/" {
            self.root.call(req).await.map(IntoResponse::into_response)
        } else {
            self.rest.call(req).await.map(IntoResponse::into_response)
        }
    }
}

/// Driver errors can span lines; start-up errors must stay one line.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
