//! The sandbox's control API under `/_control`, for tests and demos: faults, reset, the call log, the
//! Noti log, test merchants and the settings that stand in for Innopay's undocumented behaviour.
//! Errors use paydesk's own envelope, since this API is paydesk's, not Innopay's.

use poem::http::StatusCode;
use poem::web::{Data, Json};
use poem::{IntoResponse, Response, Route, get, handler, post};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::ApiError;
use crate::domain::Mid;

use super::Sandbox;
use super::faults::Fault;
use super::state::{MerchantAccount, Settings, TEST_MID};

/// Why a control request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("invalid fault: {0}")]
    Fault(String),
    #[error("invalid merchant: {0}")]
    Merchant(String),
    #[error("invalid settings: {0}")]
    Settings(String),
}

impl From<ControlError> for ApiError {
    fn from(err: ControlError) -> Self {
        let (code, param) = match &err {
            ControlError::Fault(_) => ("invalid_fault", "body"),
            ControlError::Merchant(_) => ("invalid_merchant", "body"),
            ControlError::Settings(_) => ("invalid_settings", "body"),
        };
        ApiError::invalid(code, param, err.to_string())
    }
}

pub(super) fn routes(route: Route) -> Route {
    route
        .at(
            "/_control/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .at("/_control/faults/reset", post(clear_faults))
        .at("/_control/reset", post(reset))
        .at("/_control/calls", get(calls))
        .at("/_control/notis", get(notis))
        .at(
            "/_control/merchants",
            post(put_merchant).get(list_merchants),
        )
        .at("/_control/settings", post(patch_settings).get(get_settings))
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
    let fault = sandbox.lock().faults.add(fault);
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
}

/// A merchant as listed (never with its key or cancel password).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MerchantView {
    mid: String,
    noti_url: Option<String>,
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
        Some(raw) => Some(
            url::Url::parse(raw)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .ok_or_else(|| {
                    ControlError::Merchant(format!("notiUrl: expected an http(s) URL, got {raw:?}"))
                })?
                .to_string(),
        ),
    };
    let mut state = sandbox.lock();
    let existing = state.merchants.get(&input.mid).cloned();
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
            noti_url,
        },
    );
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
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
            noti_url: m.noti_url.clone(),
        })
        .collect();
    // testpay01m first, then by MID, so the listing is stable.
    list.sort_by_key(|m| (m.mid != TEST_MID, m.mid.clone()));
    Json(list)
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
