//! Helpers for tests that talk to the Innopay sandbox: the seed guide's goPay parameters, the
//! headless authentication step, faults and settings, the typed client, and a real Noti receiver on
//! port 0.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paydesk::config::{
    DEFAULT_SANDBOX_CANCEL_PASSWORD, DEFAULT_SANDBOX_MERCHANT_KEY, SecretString,
};
use paydesk::domain::{Amount, Price};
use paydesk::gateway::{ApprovalRequest, InnopayClient, Merchant};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::{Data, Form};
use poem::{EndpointExt, Route, Server, handler, post};
use serde_json::Value;

use crate::support::TestApp;

/// A fresh order number in the seed's style (`test01` + digits).
pub fn new_moid() -> String {
    format!("test01{}", &uuid::Uuid::new_v4().simple().to_string()[..14])
}

/// The seed guide's goPay call, with a fresh order number.
pub fn seed_params(moid: &str) -> Vec<(String, String)> {
    [
        ("payMethod", "CARD"),
        ("mid", "testpay01m"),
        ("moid", moid),
        ("goodsName", "이노페이 화장품"),
        ("amt", "20000"),
        ("buyerName", "홍길동"),
        ("buyerTel", "01012345678"),
        ("buyerEmail", "test@test.com"),
        ("returnUrl", "https://www.test.com/return"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The query keys Innopay's window sends to returnUrl after a successful authentication.
pub const RETURN_QUERY_KEYS: [&str; 8] = [
    "paymentToken",
    "tid",
    "mid",
    "moid",
    "amt",
    "taxFreeAmt",
    "payMethod",
    "mallReserved",
];

/// What the window sent to returnUrl.
pub struct Authenticated {
    pub query: HashMap<String, String>,
}

impl Authenticated {
    pub fn get(&self, key: &str) -> &str {
        self.query.get(key).map(String::as_str).unwrap_or_default()
    }

    /// The approval request paydesk would build from this query.
    pub fn approval_request(&self) -> ApprovalRequest {
        ApprovalRequest {
            tid: self.get("tid").parse().expect("tid"),
            moid: self.get("moid").parse().expect("moid"),
            amt: Price::Krw(self.get("amt").parse().expect("amt")),
            tax_free_amt: self.get("taxFreeAmt").parse().unwrap_or(Amount::ZERO),
            payment_token: SecretString::from(self.get("paymentToken").to_string()),
        }
    }
}

/// `POST {sandbox}/pay/authorize` with the seed parameters changed or extended by `extra`; expects
/// the 303 to returnUrl and returns its query.
pub async fn authorize_at(sandbox: &str, extra: &[(&str, &str)]) -> Authenticated {
    let moid = new_moid();
    let mut form = seed_params(&moid);
    for (key, value) in extra {
        form.retain(|(k, _)| k != key);
        form.push((key.to_string(), value.to_string()));
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .post(format!("{sandbox}/pay/authorize"))
        .form(&form)
        .send()
        .await
        .expect("authorize");
    assert_eq!(
        response.status(),
        303,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let location = response.headers()["location"].to_str().unwrap();
    let url = url::Url::parse(location).expect("absolute returnUrl");
    Authenticated {
        query: url.query_pairs().into_owned().collect(),
    }
}

pub async fn authorize(app: &TestApp, extra: &[(&str, &str)]) -> Authenticated {
    authorize_at(&app.url("/sandbox"), extra).await
}

/// `testpay01m` with the documented sandbox credentials.
pub fn merchant() -> Merchant {
    Merchant {
        mid: "testpay01m".parse().unwrap(),
        merchant_key: SecretString::from(DEFAULT_SANDBOX_MERCHANT_KEY.to_string()),
        cancel_password: SecretString::from(DEFAULT_SANDBOX_CANCEL_PASSWORD.to_string()),
    }
}

/// A client of the app's sandbox with a short read timeout.
pub fn client(app: &TestApp, read_timeout_ms: u64) -> InnopayClient {
    client_at(&app.url("/sandbox"), read_timeout_ms)
}

pub fn client_at(api_base: &str, read_timeout_ms: u64) -> InnopayClient {
    InnopayClient::new(
        url::Url::parse(api_base).unwrap(),
        Duration::from_millis(300),
        Duration::from_millis(read_timeout_ms),
    )
}

/// Adds a fault through the control API.
pub async fn add_fault(app: &TestApp, fault: Value) {
    add_fault_at(&app.url("/sandbox"), fault).await;
}

/// Adds a fault to the sandbox at `sandbox` (its URL, `.../sandbox`), e.g. a standalone one.
pub async fn add_fault_at(sandbox: &str, fault: Value) {
    let response = reqwest::Client::new()
        .post(format!("{sandbox}/_control/faults"))
        .json(&fault)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

/// Changes sandbox settings through the control API.
pub async fn set(app: &TestApp, path: &str, body: Value) {
    let response = app
        .client
        .post(app.url(&format!("/sandbox/_control/{path}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
}

pub async fn control(app: &TestApp, path: &str) -> Value {
    app.get(&format!("/sandbox/_control/{path}"))
        .await
        .json()
        .await
        .unwrap()
}

/// A merchant's Noti endpoint on port 0 that refuses the first `refuse_first` deliveries (answering
/// something other than `0000`), then accepts.
pub struct NotiReceiver {
    pub url: String,
    received: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

#[derive(Clone)]
struct ReceiverState {
    received: Arc<Mutex<Vec<HashMap<String, String>>>>,
    refuse_first: usize,
}

#[handler]
fn receive(Form(form): Form<HashMap<String, String>>, Data(state): Data<&ReceiverState>) -> String {
    let mut received = state.received.lock().unwrap();
    received.push(form);
    if received.len() <= state.refuse_first {
        // Close to 0000 but not it: Innopay must resend.
        "0000 not yet".to_string()
    } else {
        "0000".to_string()
    }
}

impl NotiReceiver {
    pub async fn start(refuse_first: usize) -> Self {
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let endpoint = Route::new().at("/noti", post(receive)).data(ReceiverState {
            received: received.clone(),
            refuse_first,
        });
        tokio::spawn(Server::new_with_acceptor(acceptor).run(endpoint));
        Self {
            url: format!("http://{addr}/noti"),
            received,
        }
    }

    /// Waits until at least `count` deliveries arrived (at most 10 s) and returns all of them.
    pub async fn wait_for(&self, count: usize) -> Vec<HashMap<String, String>> {
        let started = Instant::now();
        loop {
            let received = self.received.lock().unwrap().clone();
            if received.len() >= count || started.elapsed() > Duration::from_secs(10) {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
