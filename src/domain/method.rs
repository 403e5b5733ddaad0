//! What paydesk knows of a payment beyond its amount, one typed value per payment method: the card
//! that paid, the virtual account issued and what was deposited into it. Stored as one JSON column
//! (`payments.method_details`) and exposed as one object per method on the payment, so a new method
//! adds a variant here, not columns across the store, the service and the API. Also the cash receipt
//! (현금영수증) a shopper asked for and what Innopay issued, which belongs to no single method.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{BankCode, InvalidValue};

/// The method-specific part of a payment. The JSON written is `{"method": "card", ...}`; rows
/// written before a field existed still read (new fields are optional).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sea_orm::DeriveValueType)]
#[serde(tag = "method", rename_all = "snake_case")]
#[sea_orm(value_type = "String", column_type = "Text")]
pub enum MethodDetails {
    Card(CardDetails),
    VirtualAccount(VirtualAccount),
}

/// The card of an approved card payment, as Innopay reported it. Fields it left out are `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CardDetails {
    /// Issuing card company code and name, e.g. `07` / `현대`.
    pub company_code: Option<String>,
    pub company_name: Option<String>,
    /// Masked, e.g. `12345678****1234`.
    pub number: Option<String>,
    /// Installment months, `00` = paid at once.
    pub quota: Option<String>,
}

/// A virtual account (가상계좌): the deadline asked for at checkout, then the account Innopay issued,
/// then what was deposited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualAccount {
    /// Until when the shopper may deposit.
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    /// Set when Innopay issued the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued: Option<IssuedAccount>,
    /// Set when Innopay's inquiry showed the deposit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deposit: Option<Deposit>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedAccount {
    pub bank_code: BankCode,
    pub account_number: String,
    /// The account's holder as the bank shows it to the depositor (the merchant's name).
    pub holder_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deposit {
    /// What Innopay shows deposited in all.
    pub amount: i64,
    pub depositor_name: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub deposited_at: Option<OffsetDateTime>,
}

impl MethodDetails {
    pub fn card(&self) -> Option<&CardDetails> {
        match self {
            MethodDetails::Card(card) => Some(card),
            _ => None,
        }
    }

    pub fn virtual_account(&self) -> Option<&VirtualAccount> {
        match self {
            MethodDetails::VirtualAccount(account) => Some(account),
            _ => None,
        }
    }
}

/// What kind of cash receipt: for the shopper's income deduction (소득공제, by phone number) or a
/// business's expense proof (지출증빙, by business registration number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CashReceiptPurpose {
    IncomeDeduction,
    ExpenseProof,
}

impl CashReceiptPurpose {
    /// Innopay's `receiptType`.
    pub fn innopay_code(self) -> &'static str {
        match self {
            CashReceiptPurpose::IncomeDeduction => "1",
            CashReceiptPurpose::ExpenseProof => "2",
        }
    }

    pub fn from_innopay(code: &str) -> Option<Self> {
        match code.trim() {
            "1" | "01" => Some(CashReceiptPurpose::IncomeDeduction),
            "2" | "02" => Some(CashReceiptPurpose::ExpenseProof),
            _ => None,
        }
    }

    pub fn korean(self) -> &'static str {
        match self {
            CashReceiptPurpose::IncomeDeduction => "소득공제",
            CashReceiptPurpose::ExpenseProof => "지출증빙",
        }
    }
}

/// A cash receipt: what the storefront asked for at checkout, then what Innopay issued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sea_orm::DeriveValueType)]
#[serde(rename_all = "camelCase")]
#[sea_orm(value_type = "String", column_type = "Text")]
pub struct CashReceipt {
    pub purpose: CashReceiptPurpose,
    /// Phone or business number digits, as asked for (sent to the window to prefill it).
    pub identifier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued: Option<IssuedReceipt>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedReceipt {
    pub purpose: CashReceiptPurpose,
    /// As Innopay masked it, e.g. `010****5678`.
    pub identifier: Option<String>,
    pub supply_amount: i64,
    pub vat: i64,
    pub service_amount: i64,
    /// The receipt's own transaction id at Innopay.
    pub tid: Option<String>,
}

/// Values stored as JSON text read back through serde; a value that does not read is an error that
/// quotes the start of it.
macro_rules! json_text {
    ($name:ident) => {
        impl FromStr for $name {
            type Err = InvalidValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                serde_json::from_str(s).map_err(|e| {
                    let start: String = s.chars().take(80).collect();
                    InvalidValue(format!(
                        concat!("stored ", stringify!($name), " {:?} does not read: {}"),
                        start, e
                    ))
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&serde_json::to_string(self).map_err(|_| fmt::Error)?)
            }
        }
    };
}

json_text!(MethodDetails);
json_text!(CashReceipt);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_round_trip_through_their_stored_text() {
        let card = MethodDetails::Card(CardDetails {
            company_code: Some("07".into()),
            company_name: Some("현대".into()),
            number: Some("12345678****1234".into()),
            quota: Some("00".into()),
        });
        let text = card.to_string();
        assert!(text.contains(r#""method":"card""#), "{text}");
        assert_eq!(text.parse::<MethodDetails>().unwrap(), card);
        let account = MethodDetails::VirtualAccount(VirtualAccount {
            due_at: time::macros::datetime!(2026-12-05 14:59:59 UTC),
            issued: Some(IssuedAccount {
                bank_code: "004".parse().unwrap(),
                account_number: "12345678901234".into(),
                holder_name: Some("이노페이".into()),
            }),
            deposit: None,
        });
        assert_eq!(
            account.to_string().parse::<MethodDetails>().unwrap(),
            account
        );
    }

    #[test]
    fn a_stored_value_that_does_not_read_names_itself() {
        let err = r#"{"method":"cheque"}"#.parse::<MethodDetails>().unwrap_err();
        assert!(err.0.contains("cheque"), "{err}");
    }
}
