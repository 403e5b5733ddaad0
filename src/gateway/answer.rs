//! Reading Innopay's answers into typed values, tolerantly: amounts as numbers or numeric strings,
//! optional fields that some integrations never see, and every unknown field kept in `raw`. A field
//! paydesk depends on that is missing or malformed makes the answer unreadable, which the client
//! reports as an unknown outcome rather than guessing.

use serde_json::Value;

use crate::domain::{Amount, Currency, Money, Price, Unit};

/// An approved payment as Innopay reports it (approval and inquiry answers share this shape).
#[derive(Clone, Debug, PartialEq)]
pub struct Approval {
    pub tid: String,
    pub mid: String,
    pub moid: String,
    /// In the payment's currency (`currency` of `data` or `data.card`, KRW when absent) and its unit.
    pub amt: Price,
    /// Won: only KRW payments have a tax-free part.
    pub tax_free_amt: Amount,
    /// `0` = approved. Inquiries of the sandbox answer `1` once the payment is cancelled in full.
    pub status: i64,
    pub pay_method: String,
    pub auth_num: Option<String>,
    /// KST `YYYY-MM-DD HH:mm:ss`, exactly as Innopay sent it.
    pub approved_at: Option<String>,
    pub receipt_url: Option<String>,
    pub card: Option<CardInfo>,
    /// A virtual account's state, for VBANK.
    pub virtual_account: Option<VirtualAccountInfo>,
    /// The account a BANK (`data.bank`) or EBANK (`data.easyBank`) payment came from.
    pub bank: Option<BankInfo>,
    /// The wallet of an EPAY payment (`data.epay`).
    pub epay: Option<EpayInfo>,
    /// A cash receipt Innopay issued.
    pub cash_receipt: Option<CashReceiptInfo>,
    /// How much of the payment has been cancelled, when an inquiry reports it.
    pub cancelled_amt: Option<Price>,
    /// The whole answer (`{"success": true, "data": {...}}`), unknown fields included.
    pub raw: Value,
}

/// The card part of an approval. Fields Innopay leaves out are empty strings.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CardInfo {
    /// Acquiring card company code and name, e.g. `01` / `비씨`.
    pub acqu_card_code: String,
    pub acqu_card_name: String,
    /// Installment months, `00` = paid at once (일시불).
    pub card_quota: String,
    /// Masked card number, e.g. `12345678****1234`.
    pub card_num: String,
    /// Issuing card company code and name, e.g. `07` / `현대`.
    pub fn_cd: String,
    pub fn_name: String,
    pub currency: Option<String>,
}

/// A virtual account as Innopay reports it (`data.virtualAccount`, B: `bankName` and
/// `accountNumber` seen; the rest is assumed, see docs/SANDBOX.md). Deposit fields are present once
/// the shopper deposited.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct VirtualAccountInfo {
    pub bank_code: Option<String>,
    pub bank_name: Option<String>,
    pub account_number: String,
    pub holder_name: Option<String>,
    /// Deposited in all, once any deposit arrived.
    pub deposit_amt: Option<Amount>,
    /// KST `YYYY-MM-DD HH:mm:ss`.
    pub deposited_at: Option<String>,
    pub depositor_name: Option<String>,
    /// Set when the account was closed unpaid.
    pub closed_at: Option<String>,
}

/// The bank account of a transfer (`data.bank` for BANK, `data.easyBank` for EBANK: their existence
/// is B, their fields unknown). Assumed, most likely first: `bankCode`/`bankCd`/`fnCd`,
/// `bankName`/`fnName`, `accountNumber`/`accntNo`/`acctNo` (`bankCd` and `accntNo` are the
/// bank-transfer Noti's names, A). Every field is optional: the approval stands without them.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BankInfo {
    pub bank_code: Option<String>,
    pub bank_name: Option<String>,
    pub account_number: Option<String>,
}

/// The wallet of an easy-pay payment (`data.epay`, C): `epayCl` seen (its code list unknown),
/// `epayName` assumed. Absent or empty: the wallet is unknown, kept as such.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EpayInfo {
    pub epay_cl: Option<String>,
    pub epay_name: Option<String>,
}

/// A cash receipt as Innopay reports it (`data.cashReceipt`, C).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CashReceiptInfo {
    pub receipt_type: Option<String>,
    pub receipt_type_no: Option<String>,
    pub supply_amt: Amount,
    pub vat: Amount,
    pub service_amt: Amount,
    pub tid: Option<String>,
}

/// A cancel (full or partial) Innopay accepted.
#[derive(Clone, Debug, PartialEq)]
pub struct Cancellation {
    /// `2001` = cancelled (`2211`, a refund, is accepted as well).
    pub result_code: String,
    pub result_msg: String,
    pub pg_tid: Option<String>,
    /// The amount this cancel took back: Innopay's `cancelAmt` when present, else what was asked.
    pub cancel_amt: Price,
    /// `YYYYMMDD` and `HHmmss` of the cancel, when sent.
    pub pg_app_date: Option<String>,
    pub pg_app_time: Option<String>,
    pub state_cd: Option<String>,
    pub raw: Value,
}

/// Result codes of `cancelApi` that mean the money went back.
const CANCEL_SUCCESS_CODES: [&str; 2] = ["2001", "2211"];

/// A text field that may arrive as a string or a number; empty strings count as absent.
pub(crate) fn text(object: &Value, key: &str) -> Option<String> {
    match object.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An amount field; absent or `null` is `Ok(None)`, anything unreadable is an error naming the key.
pub(crate) fn amount<U: Unit>(object: &Value, key: &str) -> Result<Option<Money<U>>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => Money::from_json(value)
            .map(Some)
            .map_err(|e| format!("`{key}` is not an amount: {e}")),
    }
}

/// An amount field in `currency`'s unit, read like `amount`.
fn price(object: &Value, key: &str, currency: Currency) -> Result<Option<Price>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => Price::from_json(currency, value)
            .map(Some)
            .map_err(|e| format!("`{key}` is not an amount: {e}")),
    }
}

fn required_text(object: &Value, key: &str) -> Result<String, String> {
    text(object, key).ok_or_else(|| format!("`{key}` is missing"))
}

impl Approval {
    /// Reads `{"success": true, "data": {...}}`; amounts are in `asked` (the payment's currency)
    /// when the answer names none.
    pub(crate) fn from_answer(answer: Value, asked: Currency) -> Result<Self, String> {
        let data = answer
            .get("data")
            .filter(|d| d.is_object())
            .ok_or("`data` is missing")?;
        let status = text(data, "status")
            .ok_or("`status` is missing")?
            .parse::<i64>()
            .map_err(|_| "`status` is not a number".to_string())?;
        let card = data.get("card").filter(|c| c.is_object());
        let currency =
            match text(data, "currency").or_else(|| card.and_then(|c| text(c, "currency"))) {
                None => asked,
                Some(code) => Currency::ALL
                    .into_iter()
                    .find(|c| c.code() == code)
                    .ok_or_else(|| format!("`currency` {code:?} is not KRW or USD"))?,
            };
        let cancelled_amt = ["cancelAmt", "cancelledAmt", "totalCancelAmt"]
            .into_iter()
            .map(|key| price(data, key, currency))
            .find(|found| !matches!(found, Ok(None)))
            .transpose()?
            .flatten();
        let pay_method = text(data, "payMethod").unwrap_or_default();
        let virtual_account = data
            .get("virtualAccount")
            .filter(|v| v.is_object())
            .map(VirtualAccountInfo::from_json)
            .transpose()?;
        if pay_method == "VBANK" && virtual_account.is_none() {
            return Err("a VBANK answer without `virtualAccount`".into());
        }
        let object = |key: &str| data.get(key).filter(|v| v.is_object());
        let bank = object("bank")
            .or_else(|| object("easyBank"))
            .map(BankInfo::from_json);
        let epay = object("epay").map(|epay| EpayInfo {
            epay_cl: text(epay, "epayCl"),
            epay_name: text(epay, "epayName"),
        });
        let cash_receipt = data
            .get("cashReceipt")
            .filter(|v| v.is_object())
            .map(CashReceiptInfo::from_json)
            .transpose()?;
        Ok(Self {
            tid: required_text(data, "tid")?,
            mid: required_text(data, "mid")?,
            moid: required_text(data, "moid")?,
            amt: price(data, "amt", currency)?.ok_or("`amt` is missing")?,
            // Seen missing in some integrations (B): absent means no tax-free part.
            tax_free_amt: amount(data, "taxFreeAmt")?.unwrap_or(Amount::ZERO),
            status,
            pay_method,
            auth_num: text(data, "authNum"),
            approved_at: text(data, "approvedAt"),
            receipt_url: text(data, "receiptUrl"),
            card: card.map(CardInfo::from_json),
            virtual_account,
            bank,
            epay,
            cash_receipt,
            cancelled_amt,
            raw: answer,
        })
    }
}

impl CardInfo {
    fn from_json(card: &Value) -> Self {
        let field = |key: &str| text(card, key).unwrap_or_default();
        Self {
            acqu_card_code: field("acquCardCode"),
            acqu_card_name: field("acquCardName"),
            card_quota: field("cardQuota"),
            card_num: field("cardNum"),
            fn_cd: field("fnCd"),
            fn_name: field("fnName"),
            currency: text(card, "currency"),
        }
    }
}

impl VirtualAccountInfo {
    /// Tolerant of the two namings seen (v1 `accountNumber`, Noti-style `vacctNo`).
    fn from_json(account: &Value) -> Result<Self, String> {
        let first = |keys: &[&str]| keys.iter().find_map(|k| text(account, k));
        let deposit_amt = ["depositAmt", "depositAmount"]
            .into_iter()
            .map(|key| amount(account, key))
            .find(|found| !matches!(found, Ok(None)))
            .transpose()?
            .flatten();
        Ok(Self {
            bank_code: first(&["bankCode", "vbankBankCd"]),
            bank_name: first(&["bankName"]),
            account_number: first(&["accountNumber", "vacctNo"])
                .ok_or("`virtualAccount.accountNumber` is missing")?,
            holder_name: first(&["accountHolder", "holderName"]),
            deposit_amt,
            deposited_at: first(&["depositedAt", "depositDate"]),
            depositor_name: first(&["depositorName", "vbankAcctNm"]),
            closed_at: first(&["closedAt"]),
        })
    }
}

impl BankInfo {
    fn from_json(bank: &Value) -> Self {
        let first = |keys: &[&str]| keys.iter().find_map(|k| text(bank, k));
        Self {
            bank_code: first(&["bankCode", "bankCd", "fnCd"]),
            bank_name: first(&["bankName", "fnName"]),
            account_number: first(&["accountNumber", "accntNo", "acctNo"]),
        }
    }
}

impl CashReceiptInfo {
    fn from_json(receipt: &Value) -> Result<Self, String> {
        let won = |key: &str| amount(receipt, key).map(|a| a.unwrap_or(Amount::ZERO));
        Ok(Self {
            receipt_type: text(receipt, "receiptType"),
            receipt_type_no: text(receipt, "receiptTypeNo"),
            supply_amt: won("supplyAmt")?,
            vat: won("vat")?,
            service_amt: won("serviceAmt")?,
            tid: text(receipt, "tid"),
        })
    }
}

/// What a `cancelApi` answer says.
pub(crate) enum CancelAnswer {
    Cancelled(Cancellation),
    Refused { code: String, message: String },
}

impl Cancellation {
    /// Reads a `cancelApi` answer; `asked` is the amount requested, used when the answer omits it.
    pub(crate) fn from_answer(answer: Value, asked: Price) -> Result<CancelAnswer, String> {
        let code = required_text(&answer, "resultCode")?;
        let message = text(&answer, "resultMsg").unwrap_or_default();
        if !CANCEL_SUCCESS_CODES.contains(&code.as_str()) {
            return Ok(CancelAnswer::Refused { code, message });
        }
        Ok(CancelAnswer::Cancelled(Self {
            cancel_amt: price(&answer, "cancelAmt", asked.currency())?.unwrap_or(asked),
            pg_tid: text(&answer, "pgTid"),
            pg_app_date: text(&answer, "pgAppDate"),
            pg_app_time: text(&answer, "pgAppTime"),
            state_cd: text(&answer, "stateCd"),
            result_code: code,
            result_msg: message,
            raw: answer,
        }))
    }
}

/// Innopay's refusal in a v1 answer: `{"success": false, "error": {"code", "message"}}`, or the same
/// pair at the top level (`code`/`message` or `resultCode`/`resultMsg`) as older APIs write it.
pub(crate) fn refusal(answer: &Value) -> Option<(String, String)> {
    let error = answer
        .get("error")
        .filter(|e| e.is_object())
        .unwrap_or(answer);
    let code = text(error, "code").or_else(|| text(error, "resultCode"))?;
    let message = text(error, "message")
        .or_else(|| text(error, "resultMsg"))
        .unwrap_or_default();
    Some((code, message))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_string_amounts_and_keeps_unknown_fields() {
        let answer = json!({"success": true, "data": {
            "tid": "testpay01m01082502061700416194", "mid": "testpay01m", "moid": "o1",
            "amt": "20000", "status": "0", "payMethod": "CARD", "otid": "x", "cancelAmt": "5000"
        }});
        let approval = Approval::from_answer(answer, Currency::Krw).unwrap();
        assert_eq!(approval.amt, Price::Krw(Amount::new(20000).unwrap()));
        assert_eq!(approval.tax_free_amt, Amount::ZERO);
        assert_eq!(approval.cancelled_amt.unwrap().minor(), 5000);
        assert_eq!(approval.raw["data"]["otid"], "x");
        assert!(approval.card.is_none());
    }

    #[test]
    fn an_answer_naming_no_currency_is_in_the_currency_asked() {
        let answer = json!({"success": true, "data": {
            "tid": "t", "mid": "m", "moid": "o", "amt": "1234", "status": "0", "payMethod": "CARD"
        }});
        let usd = Approval::from_answer(answer.clone(), Currency::Usd).unwrap();
        assert_eq!(usd.amt.currency(), Currency::Usd);
        assert_eq!(usd.amt.minor(), 1234);
        let krw = Approval::from_answer(answer, Currency::Krw).unwrap();
        assert_eq!(krw.amt, Price::Krw(Amount::new(1234).unwrap()));
    }

    #[test]
    fn virtual_accounts_read_from_either_naming_and_are_required_for_vbank() {
        let answer = |account: Value| {
            json!({"success": true, "data": {
                "tid": "t", "mid": "m", "moid": "o", "amt": 1000, "status": 0,
                "payMethod": "VBANK", "virtualAccount": account
            }})
        };
        let issued = Approval::from_answer(
            answer(json!({
                "bankCode": "004", "bankName": "KB국민은행", "accountNumber": "12345678901234"
            })),
            Currency::Krw,
        )
        .unwrap();
        let account = issued.virtual_account.unwrap();
        assert_eq!(account.account_number, "12345678901234");
        assert_eq!(account.deposit_amt, None);
        let deposited = Approval::from_answer(
            answer(json!({
                "vbankBankCd": "04", "vacctNo": "999", "depositAmt": "1000", "vbankAcctNm": "홍길동"
            })),
            Currency::Krw,
        )
        .unwrap();
        let account = deposited.virtual_account.unwrap();
        assert_eq!(account.deposit_amt.unwrap().won(), 1000);
        assert_eq!(account.depositor_name.as_deref(), Some("홍길동"));
        assert!(Approval::from_answer(answer(json!(null)), Currency::Krw).is_err());
        assert!(Approval::from_answer(answer(json!({"bankName": "x"})), Currency::Krw).is_err());
    }

    #[test]
    fn bank_and_wallet_objects_read_from_the_names_assumed() {
        let read = |method: &str, key: &str, object: Value| {
            let answer = json!({"success": true, "data": {
                "tid": "t", "mid": "m", "moid": "o", "amt": 1000, "status": 0,
                "payMethod": method, key: object
            }});
            Approval::from_answer(answer, Currency::Krw).unwrap()
        };
        let bank = read(
            "BANK",
            "bank",
            json!({"bankCd": "088", "accntNo": "110****5678"}),
        )
        .bank
        .unwrap();
        assert_eq!(bank.bank_code.as_deref(), Some("088"));
        assert_eq!(bank.account_number.as_deref(), Some("110****5678"));
        let easy = read(
            "EBANK",
            "easyBank",
            json!({"bankCode": "004", "bankName": "KB국민은행"}),
        );
        assert_eq!(easy.bank.unwrap().bank_name.as_deref(), Some("KB국민은행"));
        let epay = read("EPAY", "epay", json!({"epayCl": 13})).epay.unwrap();
        assert_eq!(epay.epay_cl.as_deref(), Some("13"));
        // Without the object the approval still reads: the details are unknown, not wrong.
        let bare = read("EPAY", "other", json!({}));
        assert!(bare.epay.is_none() && bare.bank.is_none());
    }

    #[test]
    fn a_missing_or_malformed_key_field_is_unreadable() {
        let no_amt =
            json!({"success": true, "data": {"tid": "t", "mid": "m", "moid": "o", "status": 0}});
        assert!(
            Approval::from_answer(no_amt, Currency::Krw)
                .unwrap_err()
                .contains("amt")
        );
        let bad_amt = json!({"success": true, "data": {
            "tid": "t", "mid": "m", "moid": "o", "status": 0, "amt": "20,000"}});
        assert!(
            Approval::from_answer(bad_amt, Currency::Krw)
                .unwrap_err()
                .contains("amt")
        );
    }

    #[test]
    fn refusals_are_read_from_either_shape() {
        let v1 = json!({"success": false, "error": {"code": "X1", "message": "no"}});
        assert_eq!(refusal(&v1), Some(("X1".into(), "no".into())));
        let legacy = json!({"resultCode": "2013", "resultMsg": "too much"});
        assert_eq!(refusal(&legacy), Some(("2013".into(), "too much".into())));
        assert_eq!(refusal(&json!({"success": false})), None);
    }
}
