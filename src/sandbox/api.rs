//! Innopay's server-to-server API as the sandbox answers it: approval (`POST /v1/transactions/pay`),
//! cancel and refund (`POST /api/cancelApi`), closing an unpaid virtual account (`POST
//! /api/vbankCancel`) and the two inquiries, in Innopay's own answer shapes. Every call is
//! logged and passes through the fault injector first.

use poem::http::{HeaderMap, StatusCode};
use poem::web::{Data, Path};
use poem::{Request, Response, Route, handler, post};
use serde_json::{Value, json};

use crate::gateway::text_field;

use super::Sandbox;
use super::faults::{Api, FaultKind};
use super::state::{NotiJob, Refusal, Settings, State, VBANK_ISSUED};

pub(super) fn routes(route: Route) -> Route {
    route
        .at("/v1/transactions/pay", post(pay))
        .at("/v1/transactions/orders/:moid", poem::get(inquire_order))
        .at("/v1/transactions/:tid", poem::get(inquire_tid))
        .at("/api/cancelApi", post(cancel))
        .at("/api/vbankCancel", post(vbank_cancel))
}

/// What a call produced before any fault touched it.
struct Handled {
    status: u16,
    body: Value,
    tid: Option<String>,
    /// For the call log: `approved`, `declined A001`, ...
    outcome: String,
    /// Whether the call changed anything (an answer-altering fault applies only then).
    succeeded: bool,
    noti: Option<NotiJob>,
}

impl Handled {
    fn ok(body: Value, tid: Option<String>, outcome: &str, noti: Option<NotiJob>) -> Self {
        Self {
            status: 200,
            body,
            tid,
            outcome: outcome.to_string(),
            succeeded: true,
            noti,
        }
    }

    fn refused(refusal: Refusal, tid: Option<String>, settings: &Settings) -> Self {
        let (status, body) = refusal_answer(
            Api::Pay,
            &refusal.code,
            &refusal.message,
            refusal.status,
            settings,
        );
        Self {
            status,
            body,
            tid,
            outcome: format!("declined {}", refusal.code),
            succeeded: false,
            noti: None,
        }
    }
}

/// A refusal in the shape of the API: v1 `{"success": false, "error"}` with the configured status
/// (else `status`), or the legacy APIs' `resultCode`, which Innopay answers with 200.
fn refusal_answer(
    api: Api,
    code: &str,
    message: &str,
    status: u16,
    settings: &Settings,
) -> (u16, Value) {
    if matches!(api, Api::Cancel | Api::VbankCancel) {
        (200, json!({"resultCode": code, "resultMsg": message}))
    } else {
        let body = json!({"success": false, "error": {"code": code, "message": message}});
        (settings.error_status.unwrap_or(status), body)
    }
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn json_response(status: u16, body: &Value) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .content_type("application/json; charset=utf-8")
        .body(body.to_string())
}

/// What a proxy or a crashed server answers: not JSON.
fn server_error(status: u16) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .content_type("text/html")
        .body("<html><body><h1>Server Error</h1></body></html>")
}

/// A 200 whose body is cut off mid-JSON.
fn malformed() -> Response {
    Response::builder()
        .content_type("application/json; charset=utf-8")
        .body("{\"success\": true, \"data\": {\"tid\": ")
}

impl Sandbox {
    /// Runs one API call through the fault injector and the call log.
    async fn answer(
        &self,
        api: Api,
        req: &Request,
        mid: Option<String>,
        handle: impl FnOnce(&mut State) -> Handled,
    ) -> Response {
        let (method, path) = (
            req.method().to_string(),
            req.original_uri().path().to_string(),
        );
        let fault = self.lock().faults.take(Some(api), mid.as_deref());
        let tag = fault
            .as_ref()
            .map(|f| format!(" (fault: {})", f.name()))
            .unwrap_or_default();
        let record = |outcome: String, tid: Option<String>| {
            self.lock()
                .record_call(&method, &path, mid.clone(), tid, format!("{outcome}{tag}"));
        };
        match &fault {
            Some(FaultKind::Delay { ms }) => {
                tokio::time::sleep(std::time::Duration::from_millis(*ms)).await;
            }
            Some(FaultKind::Decline { code, message }) => {
                let settings = self.lock().settings.clone();
                let (status, body) = refusal_answer(api, code, message, 400, &settings);
                record(format!("declined {code}"), None);
                return json_response(status, &body);
            }
            Some(FaultKind::ServerError {
                status,
                applied: false,
            }) => {
                record("not handled".into(), None);
                return server_error(*status);
            }
            Some(FaultKind::Malformed { applied: false }) => {
                record("not handled".into(), None);
                return malformed();
            }
            _ => {}
        }
        let mut handled = handle(&mut self.lock());
        if let Some(noti) = handled.noti.take() {
            self.send_noti(noti);
        }
        record(handled.outcome.clone(), handled.tid.clone());
        match fault {
            Some(FaultKind::DropAnswer { hold_ms }) => {
                // Never answer in time: the client's read timeout fires first.
                tokio::time::sleep(std::time::Duration::from_millis(hold_ms)).await;
                server_error(504)
            }
            Some(FaultKind::ServerError { status, .. }) => server_error(status),
            Some(FaultKind::Malformed { .. }) => malformed(),
            Some(FaultKind::AmountMismatch { amt }) if handled.succeeded => {
                let target = match api {
                    Api::Cancel => &mut handled.body["cancelAmt"],
                    // vbankCancel answers no amount: the fault adds one.
                    Api::VbankCancel => &mut handled.body["amt"],
                    _ => &mut handled.body["data"]["amt"],
                };
                // Whatever the currency's unit, a different number is a different amount.
                let real = target
                    .as_i64()
                    .or_else(|| target.as_str().and_then(|t| t.parse().ok()))
                    .unwrap_or(0);
                *target = json!(amt.unwrap_or(real + 1_000));
                json_response(handled.status, &handled.body)
            }
            _ => json_response(handled.status, &handled.body),
        }
    }
}

#[handler]
async fn pay(req: &Request, body: poem::Body, Data(sandbox): Data<&Sandbox>) -> Response {
    let bytes = body.into_vec().await.unwrap_or_default();
    let json: Option<Value> = serde_json::from_slice(&bytes).ok();
    let mid = json.as_ref().and_then(|j| text_field(j, "mid"));
    let (key, token) = (
        header(req.headers(), "Merchant-Key"),
        header(req.headers(), "Payment-Token"),
    );
    sandbox
        .answer(Api::Pay, req, mid, |state| {
            let Some(json) = json else {
                let refusal = Refusal {
                    status: 400,
                    code: "A007".into(),
                    message: "요청 본문이 JSON이 아닙니다.".into(),
                };
                return Handled::refused(refusal, None, &state.settings);
            };
            let tid = text_field(&json, "tid");
            match state.approve(&key, &token, &json) {
                Ok((data, noti)) => Handled::ok(
                    json!({"success": true, "data": data}),
                    tid,
                    "approved",
                    noti,
                ),
                Err(refusal) => Handled::refused(refusal, tid, &state.settings),
            }
        })
        .await
}

/// A legacy API's body: JSON as integrations send it; a form body is read the same way, to be
/// lenient.
async fn lenient_body(body: poem::Body) -> Value {
    let bytes = body.into_vec().await.unwrap_or_default();
    serde_json::from_slice(&bytes)
        .ok()
        .or_else(|| {
            serde_urlencoded::from_bytes::<std::collections::HashMap<String, String>>(&bytes)
                .ok()
                .map(|form| json!(form))
        })
        .unwrap_or(Value::Null)
}

/// A legacy API's answer: 200 with its `resultCode`, a success when it is `success`.
fn legacy(answer: Value, tid: Option<String>, success: &str, outcome: &str) -> Handled {
    let code = text_field(&answer, "resultCode").unwrap_or_default();
    if code == success {
        Handled::ok(answer, tid, outcome, None)
    } else {
        Handled {
            status: 200,
            outcome: format!("declined {code}"),
            body: answer,
            tid,
            succeeded: false,
            noti: None,
        }
    }
}

#[handler]
async fn cancel(req: &Request, body: poem::Body, Data(sandbox): Data<&Sandbox>) -> Response {
    let json = lenient_body(body).await;
    let mid = text_field(&json, "mid");
    sandbox
        .answer(Api::Cancel, req, mid, |state| {
            let tid = text_field(&json, "tid");
            let (answer, noti) = state.cancel(&json);
            Handled {
                noti,
                ..legacy(answer, tid, "2001", "cancelled")
            }
        })
        .await
}

#[handler]
async fn vbank_cancel(req: &Request, body: poem::Body, Data(sandbox): Data<&Sandbox>) -> Response {
    let json = lenient_body(body).await;
    let mid = text_field(&json, "mid");
    sandbox
        .answer(Api::VbankCancel, req, mid, |state| {
            let tid = text_field(&json, "tid");
            legacy(state.close_vbank(&json), tid, VBANK_ISSUED, "closed")
        })
        .await
}

#[handler]
async fn inquire_tid(
    req: &Request,
    Path(tid): Path<String>,
    Data(sandbox): Data<&Sandbox>,
) -> Response {
    inquire(req, sandbox, Some(tid), None).await
}

#[handler]
async fn inquire_order(
    req: &Request,
    Path(moid): Path<String>,
    Data(sandbox): Data<&Sandbox>,
) -> Response {
    inquire(req, sandbox, None, Some(moid)).await
}

async fn inquire(
    req: &Request,
    sandbox: &Sandbox,
    tid: Option<String>,
    moid: Option<String>,
) -> Response {
    let (mid, key) = (
        header(req.headers(), "MID"),
        header(req.headers(), "Merchant-Key"),
    );
    sandbox
        .answer(Api::Inquiry, req, Some(mid.clone()), |state| {
            match state.inquire(&mid, &key, tid.as_deref(), moid.as_deref()) {
                Ok(data) => {
                    let found = text_field(&data, "tid");
                    Handled::ok(json!({"success": true, "data": data}), found, "found", None)
                }
                Err(refusal) => Handled::refused(refusal, tid, &state.settings),
            }
        })
        .await
}
