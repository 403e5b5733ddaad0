//! What paydesk knows of a payment beyond its amount, one typed value per payment method: the card
//! that paid, the virtual account issued and what was deposited into it. Stored as one JSON column
//! (`payments.method_details`) and exposed as one object per method on the payment, so a new method
//! adds a variant here, not columns across the store, the service and the API. Also the cash receipt
//! (현금영수증) a shopper asked for and what Innopay issued, which belongs to no single method.
//! Bank transfers (BANK, EBANK) share one variant: both are paid from a shopper's bank account.

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
    /// 계좌이체 (BANK) and 계좌간편결제 (EBANK): the payment's method says which.
    BankTransfer(BankTransfer),
    /// 간편결제 (EPAY).
    Epay(EpayDetails),
}

/// The bank account a transfer was paid from, as Innopay reported it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BankTransfer {
    /// Absent when Innopay sent none or one paydesk does not know (its name is kept then).
    pub bank_code: Option<BankCode>,
    pub bank_name: Option<String>,
    /// Masked, e.g. `110****5678`: paydesk masks an account Innopay sent in full.
    pub account_number: Option<String>,
}

impl BankTransfer {
    /// The account as stored: masked whatever Innopay sent; the bank's name from paydesk's list
    /// when Innopay left it out.
    pub fn new(bank_code: Option<&str>, bank_name: Option<&str>, account: Option<&str>) -> Self {
        let bank_code = bank_code.and_then(|c| c.parse::<BankCode>().ok());
        let bank_name = bank_name
            .map(str::to_string)
            .or_else(|| bank_code.as_ref().map(|c| c.name().to_string()));
        let account_number = account.map(|a| {
            if a.contains('*') {
                a.to_string()
            } else {
                super::mask_digits(&a.chars().filter(char::is_ascii_digit).collect::<String>())
            }
        });
        Self {
            bank_code,
            bank_name,
            account_number,
        }
    }
}

/// An easy-pay payment: the wallet the shopper paid with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EpayDetails {
    pub wallet: Wallet,
}

/// An easy-pay wallet (간편결제). Which wallets a MID offers is Innopay's to set per merchant and
/// its code list (`epayCl`) is unpublished (C): the known ones are read from the spellings below,
/// and any other value is kept verbatim rather than refused, since the money moved all the same.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Wallet {
    KakaoPay,
    NaverPay,
    Payco,
    SamsungPay,
    TossPay,
    SsgPay,
    LPay,
    /// A value paydesk does not know, as Innopay sent it.
    Other(String),
}

impl Wallet {
    pub const KNOWN: [Wallet; 7] = [
        Wallet::KakaoPay,
        Wallet::NaverPay,
        Wallet::Payco,
        Wallet::SamsungPay,
        Wallet::TossPay,
        Wallet::SsgPay,
        Wallet::LPay,
    ];

    /// The code paydesk stores and the sandbox answers as `epayCl`.
    pub fn code(&self) -> &str {
        match self {
            Wallet::KakaoPay => "KAKAOPAY",
            Wallet::NaverPay => "NAVERPAY",
            Wallet::Payco => "PAYCO",
            Wallet::SamsungPay => "SAMSUNGPAY",
            Wallet::TossPay => "TOSSPAY",
            Wallet::SsgPay => "SSGPAY",
            Wallet::LPay => "LPAY",
            Wallet::Other(raw) => raw,
        }
    }

    /// The name shoppers know it by; an unknown wallet's own value.
    pub fn korean(&self) -> &str {
        match self {
            Wallet::KakaoPay => "카카오페이",
            Wallet::NaverPay => "네이버페이",
            Wallet::Payco => "페이코",
            Wallet::SamsungPay => "삼성페이",
            Wallet::TossPay => "토스페이",
            Wallet::SsgPay => "SSG페이",
            Wallet::LPay => "L.pay",
            Wallet::Other(raw) => raw,
        }
    }

    /// Reads Innopay's value: a known code, or Korean or English name, in any case and spacing.
    pub fn from_innopay(raw: &str) -> Self {
        let folded: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '.'))
            .flat_map(char::to_uppercase)
            .collect();
        let known = |names: &[&str]| names.contains(&folded.as_str());
        Wallet::KNOWN
            .into_iter()
            .find(|w| match w {
                Wallet::KakaoPay => known(&["KAKAOPAY", "KAKAO", "카카오페이"]),
                Wallet::NaverPay => known(&["NAVERPAY", "NAVER", "네이버페이"]),
                Wallet::Payco => known(&["PAYCO", "페이코"]),
                Wallet::SamsungPay => known(&["SAMSUNGPAY", "SAMSUNG", "삼성페이"]),
                Wallet::TossPay => known(&["TOSSPAY", "TOSS", "토스페이"]),
                Wallet::SsgPay => known(&["SSGPAY", "SSG", "SSG페이"]),
                Wallet::LPay => known(&["LPAY", "엘페이"]),
                Wallet::Other(_) => false,
            })
            .unwrap_or_else(|| Wallet::Other(raw.trim().to_string()))
    }
}

impl From<String> for Wallet {
    fn from(raw: String) -> Self {
        Wallet::from_innopay(&raw)
    }
}

impl From<Wallet> for String {
    fn from(wallet: Wallet) -> String {
        wallet.code().to_string()
    }
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
    fn wallets_read_known_spellings_and_keep_unknown_values_verbatim() {
        assert_eq!(Wallet::from_innopay("kakao_pay"), Wallet::KakaoPay);
        assert_eq!(Wallet::from_innopay("네이버페이"), Wallet::NaverPay);
        assert_eq!(Wallet::from_innopay("L.PAY"), Wallet::LPay);
        assert_eq!(Wallet::from_innopay("13"), Wallet::Other("13".into()));
        for wallet in Wallet::KNOWN {
            assert_eq!(Wallet::from_innopay(wallet.code()), wallet);
        }
        let stored = MethodDetails::Epay(EpayDetails {
            wallet: Wallet::Other("APPLEPAY".into()),
        });
        assert_eq!(stored.to_string().parse::<MethodDetails>().unwrap(), stored);
    }

    #[test]
    fn a_bank_transfer_keeps_only_a_masked_account() {
        let paid = BankTransfer::new(Some("088"), None, Some("110-123-456789"));
        assert_eq!(paid.bank_name.as_deref(), Some("신한은행"));
        assert_eq!(paid.account_number.as_deref(), Some("110*****6789"));
        let unknown = BankTransfer::new(Some("999"), Some("어느은행"), Some("123****890"));
        assert_eq!(unknown.bank_code, None);
        assert_eq!(unknown.bank_name.as_deref(), Some("어느은행"));
        assert_eq!(unknown.account_number.as_deref(), Some("123****890"));
    }

    #[test]
    fn a_stored_value_that_does_not_read_names_itself() {
        let err = r#"{"method":"cheque"}"#.parse::<MethodDetails>().unwrap_err();
        assert!(err.0.contains("cheque"), "{err}");
    }
}
