//! Why a payment failed: paydesk's own reasons, or Innopay's (or the card company's) code verbatim.
//! Stored as text: paydesk's codes as themselves, Innopay's as `innopay:<code>`, so that no Innopay
//! code can be read as one of paydesk's and a stored value that is neither is an error naming it.

use std::fmt;
use std::str::FromStr;

use super::InvalidValue;

#[derive(Clone, Debug, PartialEq, Eq, Hash, sea_orm::DeriveValueType)]
#[sea_orm(value_type = "String")]
pub enum FailureCode {
    /// The window's or Innopay's amount differs from the checkout's.
    AmountMismatch,
    /// The window's or Innopay's order, MID or tid differs from the checkout's.
    OrderMismatch,
    /// The shopper did not pay before the checkout expired.
    Expired,
    /// No deposit reached the virtual account before its deadline.
    DepositExpired,
    /// Innopay could not be reached (nothing was charged).
    InnopayUnreachable,
    /// Innopay refused; its code as it sent it.
    Innopay(String),
}

/// Longest Innopay code kept (real ones are 4 to 12 characters); with the prefix it fits the
/// column's 40.
const INNOPAY_CODE_MAX: usize = 32;
const INNOPAY_PREFIX: &str = "innopay:";

impl FailureCode {
    const OWN: [FailureCode; 5] = [
        FailureCode::AmountMismatch,
        FailureCode::OrderMismatch,
        FailureCode::Expired,
        FailureCode::DepositExpired,
        FailureCode::InnopayUnreachable,
    ];

    /// Innopay (or the card company) refused: an authenticated decline, not paydesk's own reason.
    pub fn is_decline(&self) -> bool {
        matches!(self, FailureCode::Innopay(_))
    }

    /// Innopay's code, bounded and without control characters.
    pub fn innopay(code: &str) -> Self {
        FailureCode::Innopay(
            code.chars()
                .filter(|c| !c.is_control())
                .take(INNOPAY_CODE_MAX)
                .collect::<String>()
                .trim()
                .to_string(),
        )
    }

    /// The code as the API and help suggestions show it: paydesk's word, or Innopay's code.
    pub fn code(&self) -> &str {
        match self {
            FailureCode::AmountMismatch => "amount_mismatch",
            FailureCode::OrderMismatch => "order_mismatch",
            FailureCode::Expired => "expired",
            FailureCode::DepositExpired => "deposit_expired",
            FailureCode::InnopayUnreachable => "innopay_unreachable",
            FailureCode::Innopay(code) => code,
        }
    }

    pub fn is_innopays(&self) -> bool {
        matches!(self, FailureCode::Innopay(_))
    }
}

impl fmt::Display for FailureCode {
    /// The stored form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureCode::Innopay(code) => write!(f, "{INNOPAY_PREFIX}{code}"),
            own => f.write_str(own.code()),
        }
    }
}

impl FromStr for FailureCode {
    type Err = InvalidValue;

    /// Reads the stored form.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(code) = s.strip_prefix(INNOPAY_PREFIX) {
            return Ok(FailureCode::Innopay(code.to_string()));
        }
        Self::OWN
            .into_iter()
            .find(|own| own.code() == s)
            .ok_or_else(|| {
                InvalidValue(format!(
                    "stored failure code {s:?} is not one paydesk writes"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_forms_read_back_and_strangers_are_errors() {
        for code in FailureCode::OWN.into_iter().chain([
            FailureCode::innopay("3011"),
            FailureCode::innopay("expired"),
        ]) {
            assert_eq!(code.to_string().parse::<FailureCode>().unwrap(), code);
        }
        assert_eq!(FailureCode::innopay("expired").code(), "expired");
        assert_ne!(FailureCode::innopay("expired"), FailureCode::Expired);
        assert!(
            "3011"
                .parse::<FailureCode>()
                .unwrap_err()
                .0
                .contains("3011")
        );
    }
}
