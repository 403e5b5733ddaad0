//! The sandbox's control API under `/_control`, for tests and demos: faults, reset, the call log, the
//! Noti log, test merchants, deposits into virtual accounts (what a bank would report) and the
//! settings that stand in for Innopay's undocumented behaviour.
//! Errors use paydesk's own envelope, since this API is paydesk's, not Innopay's. It can reset and
//! rewire the sandbox, so it answers only the holder of `PAYDESK_SANDBOX_CONTROL_TOKEN`, or anyone
//! while the sandbox is reachable from this machine alone (see `admit`).

use std::sync::Arc;

use poem::http::{StatusCode, header};
use poem::web::{Data, Json};
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, get, handler, post};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{ApiError, ErrorType};
use crate::config::{ExposeSecret, SecretString};
use crate::domain::{Amount, Mid};
use crate::webhooks::destination::refused_literal;

use super::Sandbox;
use super::faults::Fault;
use super::state::{
    DEFAULT_DISPLAY_NAME, DepositError, DepositRequest, MAX_HOLDER_CHARS, MerchantAccount,
    Settings, TEST_MID,
};

/// Why a control request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("invalid fault: {0}")]
    Fault(String),
    #[error("invalid merchant: {0}")]
    Merchant(String),
    #[error("invalid settings: {0}")]
    Settings(String),
    #[error("invalid deposit: {0}")]
    DepositBody(String),
    #[error("{0}")]
    Deposit(#[from] DepositError),
    #[error(
        "the sandbox control API is closed: this sandbox is reachable beyond loopback and no \
         token is configured; set PAYDESK_SANDBOX_CONTROL_TOKEN and send Authorization: Bearer <token>"
    )]
    Locked,
    #[error("send Authorization: Bearer <the PAYDESK_SANDBOX_CONTROL_TOKEN of this server>")]
    Token,
}

impl From<ControlError> for ApiError {
    fn from(err: ControlError) -> Self {
        let (code, param) = match &err {
            ControlError::Fault(_) => ("invalid_fault", "body"),
            ControlError::Merchant(_) => ("invalid_merchant", "body"),
            ControlError::Settings(_) => ("invalid_settings", "body"),
            ControlError::DepositBody(_) => ("invalid_deposit", "body"),
            ControlError::Deposit(refusal) => {
                let message = err.to_string();
                return match refusal {
                    DepositError::UnknownTid => ApiError::not_found("unknown_transaction", message),
                    DepositError::NotVirtualAccount => {
                        ApiError::invalid("not_a_virtual_account", "tid", message)
                    }
                    DepositError::Closed => ApiError::conflict("account_closed", message),
                    DepositError::Expired => ApiError::conflict("account_expired", message),
                    DepositError::Amount(_) => {
                        ApiError::invalid("invalid_amount", "amount", message)
                    }
                };
            }
            ControlError::Locked => {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    ErrorType::Permission,
                    "sandbox_control_locked",
                    err.to_string(),
                )
                .with_param("Authorization");
            }
            ControlError::Token => {
                return ApiError::unauthenticated("invalid_sandbox_control_token", err.to_string())
                    .with_param("Authorization");
            }
        };
        ApiError::invalid(code, param, err.to_string())
    }
}

/// Merchants the control API may add besides `testpay01m`, return origins per merchant, and active
/// faults: the control API's share of the sandbox's bounded memory.
const MAX_MERCHANTS: usize = 100;
const MAX_FAULTS: usize = 100;
const MAX_RETURN_ORIGINS: usize = 10;

/// Who may use the control API: with a token, whoever presents it (`Authorization: Bearer`);
/// without one, anyone while the sandbox is `local_only`, nobody otherwise.
pub(super) fn admit(
    token: Option<&SecretString>,
    local_only: bool,
    authorization: Option<&str>,
) -> Result<(), ControlError> {
    let Some(token) = token else {
        return if local_only {
            Ok(())
        } else {
            Err(ControlError::Locked)
        };
    };
    match crate::api::bearer_header_matches(authorization, token.expose_secret()) {
        Some(true) => Ok(()),
        _ => Err(ControlError::Token),
    }
}

/// The control routes behind `admit`.
async fn guarded<E: Endpoint>(inner: Arc<E>, req: Request) -> poem::Result<Response> {
    let sandbox = req
        .data::<Sandbox>()
        .expect("the sandbox's routes carry it")
        .clone();
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match admit(
        sandbox.inner.control_token.as_ref(),
        sandbox.inner.local_only,
        authorization,
    ) {
        Ok(()) => inner.call(req).await.map(IntoResponse::into_response),
        Err(err) => Ok(ApiError::from(err).into_response()),
    }
}

pub(super) fn routes(route: Route) -> Route {
    let control = Route::new()
        .at(
            "/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .at("/faults/reset", post(clear_faults))
        .at("/reset", post(reset))
        .at("/calls", get(calls))
        .at("/notis", get(notis))
        .at("/merchants", post(put_merchant).get(list_merchants))
        .at("/deposits", post(deposit))
        .at("/settings", post(patch_settings).get(get_settings));
    route.nest("/_control", control.around(guarded))
}

/// Renders a control answer, or its refusal in paydesk's error envelope.
fn respond(result: Result<Response, ControlError>) -> Response {
    result.unwrap_or_else(|err| ApiError::from(err).into_response())
}

#[handler]
fn add_fault(Json(body): Json<Value>, Data(sandbox): Data<&Sandbox>) -> Response {
    respond(
        new_fault(body, sandbox).map(|f| Json(f).with_status(StatusCode::CREATED).into_response()),
    )
}

fn new_fault(body: Value, sandbox: &Sandbox) -> Result<Fault, ControlError> {
    let fault: Fault =
        serde_json::from_value(body).map_err(|e| ControlError::Fault(e.to_string()))?;
    if let Some(problem) = fault.problem() {
        return Err(ControlError::Fault(problem));
    }
    let mut state = sandbox.lock();
    if state.faults.list().len() >= MAX_FAULTS {
        return Err(ControlError::Fault(format!(
            "the sandbox holds at most {MAX_FAULTS} faults; remove them first"
        )));
    }
    let fault = state.faults.add(fault);
    drop(state);
    tracing::info!(
        id = fault.id,
        kind = fault.kind.name(),
        "sandbox fault added"
    );
    Ok(fault)
}

#[handler]
fn list_faults(Data(sandbox): Data<&Sandbox>) -> Json<Vec<Fault>> {
    Json(sandbox.lock().faults.list().to_vec())
}

#[handler]
fn clear_faults(Data(sandbox): Data<&Sandbox>) -> StatusCode {
    sandbox.lock().faults.clear();
    StatusCode::NO_CONTENT
}

#[handler]
fn reset(Data(sandbox): Data<&Sandbox>) -> StatusCode {
    sandbox.reset();
    StatusCode::NO_CONTENT
}

#[handler]
fn calls(Data(sandbox): Data<&Sandbox>) -> Json<Value> {
    Json(serde_json::to_value(&sandbox.lock().calls).expect("serializable"))
}

#[handler]
fn notis(Data(sandbox): Data<&Sandbox>) -> Json<Value> {
    Json(serde_json::to_value(&sandbox.lock().notis).expect("serializable"))
}

/// A test merchant as added or changed through the control API.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MerchantInput {
    mid: String,
    merchant_key: Option<String>,
    cancel_password: Option<String>,
    /// `null` or `""` returns the merchant to the sandbox's default Noti URL.
    noti_url: Option<String>,
    /// The name its virtual accounts are held in; kept when absent.
    display_name: Option<String>,
    /// Origins (`https://shop.example`) the window may send this merchant's shoppers back to; kept
    /// when absent.
    return_origins: Option<Vec<String>>,
}

/// A merchant as listed (never with its key or cancel password).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MerchantView {
    mid: String,
    display_name: String,
    noti_url: Option<String>,
    return_origins: Vec<String>,
}

#[handler]
fn put_merchant(Json(body): Json<Value>, Data(sandbox): Data<&Sandbox>) -> Response {
    respond(upsert_merchant(body, sandbox).map(IntoResponse::into_response))
}

fn upsert_merchant(body: Value, sandbox: &Sandbox) -> Result<StatusCode, ControlError> {
    let input: MerchantInput =
        serde_json::from_value(body).map_err(|e| ControlError::Merchant(e.to_string()))?;
    input
        .mid
        .parse::<Mid>()
        .map_err(|e| ControlError::Merchant(format!("mid: expected {e}")))?;
    let noti_url = match input.noti_url.as_deref() {
        None | Some("") => None,
        Some(raw) => {
            let url = http_url("notiUrl", raw)?;
            // The same rule as webhook endpoints: the Noti client would refuse it at every attempt.
            if let Some(ip) = refused_literal(&url).filter(|_| !sandbox.inner.private_networks) {
                return Err(ControlError::Merchant(format!(
                    "notiUrl: {ip} is not a public address, and PAYDESK_WEBHOOK_PRIVATE_NETWORKS is off"
                )));
            }
            Some(url.to_string())
        }
    };
    if let Some(name) = &input.display_name
        && (name.trim().is_empty() || name.chars().count() > MAX_HOLDER_CHARS)
    {
        return Err(ControlError::Merchant(format!(
            "displayName: 1 to {MAX_HOLDER_CHARS} characters"
        )));
    }
    let return_origins = match input.return_origins {
        Some(list) if list.len() > MAX_RETURN_ORIGINS => {
            return Err(ControlError::Merchant(format!(
                "returnOrigins: at most {MAX_RETURN_ORIGINS}"
            )));
        }
        Some(list) => Some(
            list.iter()
                .map(|raw| http_url("returnOrigins", raw).map(|u| u.origin()))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let mut state = sandbox.lock();
    let existing = state.merchants.get(&input.mid).cloned();
    if existing.is_none() && state.merchants.len() > MAX_MERCHANTS {
        return Err(ControlError::Merchant(format!(
            "the sandbox holds at most {MAX_MERCHANTS} merchants besides {TEST_MID}; reset it"
        )));
    }
    let (Some(merchant_key), Some(cancel_password)) = (
        input
            .merchant_key
            .or_else(|| existing.as_ref().map(|m| m.merchant_key.clone())),
        input
            .cancel_password
            .or_else(|| existing.as_ref().map(|m| m.cancel_password.clone())),
    ) else {
        return Err(ControlError::Merchant(
            "a new merchant needs merchantKey and cancelPassword".into(),
        ));
    };
    let created = existing.is_none();
    state.merchants.insert(
        input.mid,
        MerchantAccount {
            merchant_key,
            cancel_password,
            display_name: input
                .display_name
                .or_else(|| existing.as_ref().map(|m| m.display_name.clone()))
                .unwrap_or_else(|| DEFAULT_DISPLAY_NAME.to_string()),
            noti_url,
            return_origins: return_origins
                .or_else(|| existing.map(|m| m.return_origins))
                .unwrap_or_default(),
        },
    );
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    })
}

fn http_url(field: &str, raw: &str) -> Result<url::Url, ControlError> {
    url::Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .ok_or_else(|| {
            ControlError::Merchant(format!("{field}: expected an http(s) URL, got {raw:?}"))
        })
}

#[handler]
fn list_merchants(Data(sandbox): Data<&Sandbox>) -> Json<Vec<MerchantView>> {
    let state = sandbox.lock();
    let mut list: Vec<MerchantView> = state
        .merchants
        .iter()
        .map(|(mid, m)| MerchantView {
            mid: mid.clone(),
            display_name: m.display_name.clone(),
            noti_url: m.noti_url.clone(),
            return_origins: m
                .return_origins
                .iter()
                .map(url::Origin::ascii_serialization)
                .collect(),
        })
        .collect();
    // testpay01m first, then by MID, so the listing is stable.
    list.sort_by_key(|m| (m.mid != TEST_MID, m.mid.clone()));
    Json(list)
}

/// A deposit as `POST /_control/deposits` takes it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DepositInput {
    tid: String,
    /// Won; the amount still owed when absent.
    amount: Option<Value>,
    depositor_name: Option<String>,
    #[serde(default)]
    late: bool,
}

/// Deposits into a virtual account and sends its Noti: `{tid, amount, depositedAt, notiId}`.
#[handler]
fn deposit(Json(body): Json<Value>, Data(sandbox): Data<&Sandbox>) -> Response {
    respond(make_deposit(body, sandbox).map(|answer| Json(answer).into_response()))
}

fn make_deposit(body: Value, sandbox: &Sandbox) -> Result<Value, ControlError> {
    let input: DepositInput =
        serde_json::from_value(body).map_err(|e| ControlError::DepositBody(e.to_string()))?;
    let amount = input
        .amount
        .as_ref()
        .map(Amount::from_json)
        .transpose()
        .map_err(|e| DepositError::Amount(e.to_string()))?;
    let depositor = input.depositor_name.map(|n| n.trim().to_string());
    if depositor
        .as_ref()
        .is_some_and(|n| n.is_empty() || n.chars().count() > MAX_HOLDER_CHARS)
    {
        return Err(ControlError::DepositBody(format!(
            "depositorName: 1 to {MAX_HOLDER_CHARS} characters"
        )));
    }
    let deposited = sandbox.lock().deposit(DepositRequest {
        tid: input.tid.clone(),
        amount,
        depositor,
        late: input.late,
    })?;
    let noti_id = sandbox.send_noti(deposited.noti);
    tracing::info!(tid = %input.tid, amount = deposited.amount.won(), "sandbox deposit");
    Ok(serde_json::json!({
        "tid": input.tid,
        "amount": deposited.amount.won(),
        "depositedAt": deposited.at,
        "notiId": noti_id,
    }))
}

#[handler]
fn get_settings(Data(sandbox): Data<&Sandbox>) -> Json<Settings> {
    Json(sandbox.lock().settings.clone())
}

/// Changes only the settings named in the body.
#[handler]
fn patch_settings(Json(patch): Json<Value>, Data(sandbox): Data<&Sandbox>) -> Response {
    respond(change_settings(patch, sandbox).map(|s| Json(s).into_response()))
}

fn change_settings(patch: Value, sandbox: &Sandbox) -> Result<Settings, ControlError> {
    let mut state = sandbox.lock();
    let mut merged = serde_json::to_value(&state.settings).expect("serializable");
    let Value::Object(fields) = patch else {
        return Err(ControlError::Settings("expected a JSON object".into()));
    };
    for (key, value) in fields {
        if merged.get(&key).is_none() {
            return Err(ControlError::Settings(format!("unknown setting `{key}`")));
        }
        merged[key] = value;
    }
    let settings: Settings =
        serde_json::from_value(merged).map_err(|e| ControlError::Settings(e.to_string()))?;
    if settings
        .error_status
        .is_some_and(|s| !(200..=599).contains(&s))
    {
        return Err(ControlError::Settings(
            "errorStatus must be an HTTP status".into(),
        ));
    }
    state.settings = settings.clone();
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_api_holds_a_bounded_number_of_faults_and_merchants() {
        crate::install_crypto_provider();
        let config = crate::Config::with_overrides([]).unwrap();
        let bound = "127.0.0.1:1".parse().unwrap();
        let sandbox = Sandbox::new(&config, "http://127.0.0.1:1/sandbox", None, bound);
        let delay = || serde_json::json!({"kind": "delay", "ms": 1});
        for _ in 0..MAX_FAULTS {
            new_fault(delay(), &sandbox).unwrap();
        }
        assert!(matches!(
            new_fault(delay(), &sandbox),
            Err(ControlError::Fault(_))
        ));
        let merchant = |n: usize| serde_json::json!({"mid": format!("shop{n:06}"), "merchantKey": "k", "cancelPassword": "p"});
        for n in 0..MAX_MERCHANTS {
            upsert_merchant(merchant(n), &sandbox).unwrap();
        }
        assert!(matches!(
            upsert_merchant(merchant(MAX_MERCHANTS), &sandbox),
            Err(ControlError::Merchant(_))
        ));
        // Changing a known merchant is still possible.
        assert!(upsert_merchant(merchant(0), &sandbox).is_ok());
    }

    #[test]
    fn without_a_token_only_a_local_sandbox_is_open() {
        assert!(admit(None, true, None).is_ok());
        assert!(matches!(
            admit(None, false, None),
            Err(ControlError::Locked)
        ));
        assert!(matches!(
            admit(None, false, Some("Bearer anything")),
            Err(ControlError::Locked)
        ));
    }

    #[test]
    fn with_a_token_only_its_holder_is_admitted_wherever_the_sandbox_listens() {
        let token = SecretString::from("s3cret-token".to_string());
        for local_only in [true, false] {
            let admitted = |header| admit(Some(&token), local_only, header).is_ok();
            assert!(admitted(Some("Bearer s3cret-token")));
            assert!(!admitted(None));
            assert!(!admitted(Some("Bearer s3cret-toke")));
            assert!(!admitted(Some("Bearer s3cret-token-and-more")));
            assert!(!admitted(Some("s3cret-token")), "not a bearer");
        }
    }
}
