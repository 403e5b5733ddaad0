//! Fault injection: what a test asks the sandbox to get wrong, for which merchant and API, and for how
//! many calls. Faults are matched in the order they were added; each match uses up one call.

use serde::{Deserialize, Serialize};

/// Which API calls a fault applies to. Noti faults ignore it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    #[default]
    Any,
    /// `POST /v1/transactions/pay`
    Pay,
    /// `POST /api/cancelApi`
    Cancel,
    /// `POST /api/vbankCancel` (closing an unpaid virtual account)
    VbankCancel,
    /// The two inquiry GETs.
    Inquiry,
}

/// What goes wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Wait `ms` before handling the call normally.
    Delay { ms: u64 },
    /// Handle the call (an approval is recorded) but never answer: hold the connection `holdMs`.
    DropAnswer {
        #[serde(default = "default_hold_ms", rename = "holdMs")]
        hold_ms: u64,
    },
    /// Answer this 5XX status. With `applied`, the call takes effect first (the answer is lost
    /// behind a failing proxy); without, it does not.
    ServerError {
        #[serde(default = "default_server_error")]
        status: u16,
        #[serde(default)]
        applied: bool,
    },
    /// Answer 200 with a body that is not JSON. `applied` as above (default true).
    Malformed {
        #[serde(default = "default_true")]
        applied: bool,
    },
    /// Refuse with this code and message instead of handling the call.
    Decline { code: String, message: String },
    /// Handle the call, but answer another amount (`amt`, default the real one + 1,000 won).
    AmountMismatch { amt: Option<i64> },
    /// Deliver each Noti twice.
    NotiDuplicate,
    /// Never send the Noti (it shows in the Noti log as not sent), as if Innopay lost it.
    NotiLost,
    /// Hold a Noti `ms` before its first attempt, so a later one overtakes it.
    NotiOutOfOrder {
        #[serde(default = "default_out_of_order_ms")]
        ms: u64,
    },
}

fn default_hold_ms() -> u64 {
    120_000
}

fn default_server_error() -> u16 {
    500
}

fn default_true() -> bool {
    true
}

fn default_out_of_order_ms() -> u64 {
    1_000
}

impl FaultKind {
    pub fn is_noti(&self) -> bool {
        matches!(
            self,
            FaultKind::NotiDuplicate | FaultKind::NotiLost | FaultKind::NotiOutOfOrder { .. }
        )
    }

    /// The word used in the call log.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Delay { .. } => "delay",
            FaultKind::DropAnswer { .. } => "drop_answer",
            FaultKind::ServerError { .. } => "server_error",
            FaultKind::Malformed { .. } => "malformed",
            FaultKind::Decline { .. } => "decline",
            FaultKind::AmountMismatch { .. } => "amount_mismatch",
            FaultKind::NotiDuplicate => "noti_duplicate",
            FaultKind::NotiLost => "noti_lost",
            FaultKind::NotiOutOfOrder { .. } => "noti_out_of_order",
        }
    }
}

/// A fault as added through `POST /sandbox/_control/faults`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// Assigned by the sandbox.
    #[serde(default)]
    pub id: u64,
    /// Only calls for this MID; every merchant when absent.
    pub mid: Option<String>,
    #[serde(default)]
    pub api: Api,
    /// How many matching calls (or Notis) it affects; until reset when absent.
    pub calls: Option<u32>,
    #[serde(flatten)]
    pub kind: FaultKind,
}

impl Fault {
    /// Why this fault cannot be used, if it cannot.
    pub fn problem(&self) -> Option<String> {
        match &self.kind {
            FaultKind::ServerError { status, .. } if !(500..=599).contains(status) => {
                Some(format!("server_error status must be 5XX, got {status}"))
            }
            FaultKind::Decline { code, .. } if code.is_empty() => {
                Some("decline needs a non-empty code".into())
            }
            _ if self.calls == Some(0) => Some("calls must be at least 1 when given".into()),
            _ => None,
        }
    }

    fn matches(&self, api: Option<Api>, mid: Option<&str>) -> bool {
        let api_ok = match api {
            None => self.kind.is_noti(),
            Some(api) => !self.kind.is_noti() && (self.api == Api::Any || self.api == api),
        };
        api_ok && self.mid.as_deref().is_none_or(|m| Some(m) == mid)
    }
}

/// The active faults, in the order they were added.
#[derive(Default)]
pub struct Faults {
    list: Vec<Fault>,
    next_id: u64,
}

impl Faults {
    pub fn add(&mut self, mut fault: Fault) -> Fault {
        self.next_id += 1;
        fault.id = self.next_id;
        self.list.push(fault.clone());
        fault
    }

    pub fn list(&self) -> &[Fault] {
        &self.list
    }

    pub fn clear(&mut self) {
        self.list.clear();
    }

    /// Takes the first fault for an API call (`Some(api)`) or a Noti (`None`), using up one call.
    pub fn take(&mut self, api: Option<Api>, mid: Option<&str>) -> Option<FaultKind> {
        let index = self.list.iter().position(|f| f.matches(api, mid))?;
        let fault = &mut self.list[index];
        let kind = fault.kind.clone();
        match &mut fault.calls {
            Some(1) => {
                self.list.remove(index);
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fault(value: serde_json::Value) -> Fault {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn faults_parse_with_defaults() {
        let f = fault(json!({"kind": "server_error"}));
        assert_eq!(
            f.kind,
            FaultKind::ServerError {
                status: 500,
                applied: false
            }
        );
        assert_eq!(f.api, Api::Any);
        let f =
            fault(json!({"kind": "drop_answer", "api": "pay", "mid": "testpay01m", "calls": 1}));
        assert_eq!(f.kind, FaultKind::DropAnswer { hold_ms: 120_000 });
        assert!(
            fault(json!({"kind": "server_error", "status": 404}))
                .problem()
                .is_some()
        );
        assert!(serde_json::from_value::<Fault>(json!({"kind": "explode"})).is_err());
    }

    #[test]
    fn faults_match_by_api_and_mid_and_run_out() {
        let mut faults = Faults::default();
        faults.add(fault(
            json!({"kind": "delay", "ms": 5, "api": "cancel", "calls": 2}),
        ));
        faults.add(fault(
            json!({"kind": "noti_duplicate", "mid": "othermid01"}),
        ));
        assert_eq!(faults.take(Some(Api::Pay), Some("testpay01m")), None);
        assert!(faults.take(Some(Api::Cancel), None).is_some());
        assert!(faults.take(Some(Api::Cancel), None).is_some());
        assert_eq!(faults.take(Some(Api::Cancel), None), None);
        assert_eq!(faults.take(None, Some("testpay01m")), None);
        assert_eq!(
            faults.take(None, Some("othermid01")),
            Some(FaultKind::NotiDuplicate)
        );
        assert_eq!(
            faults.take(None, Some("othermid01")),
            Some(FaultKind::NotiDuplicate)
        );
    }
}
