//! The goPay parameters as the payment window receives them, checked the way Innopay's window checks
//! them (the stand-in `innopay.js` applies the same rules before opening the window). Each problem
//! carries a window error code: W003, W004 and W011–W014 are Innopay's legacy codes; the others are
//! the sandbox's own, since Innopay does not publish them. Every text field has a length limit
//! (`LIMITS`): Innopay publishes none, and whatever the window accepts the sandbox keeps in memory.
//! Virtual accounts (VBANK) add a deposit deadline and an optional cash-receipt request (graded C).

use std::collections::HashMap;

use time::macros::{format_description, offset, time};
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime, Time};
use url::Url;

use crate::domain::{Amount, Currency, Mid, OrderId, PayMethod, Price};

/// Every goPay parameter the window knows; carried from page to page and echoed where Innopay does.
pub const GOPAY_FIELDS: [&str; 24] = [
    "payMethod",
    "mid",
    "moid",
    "goodsName",
    "amt",
    "taxFreeAmt",
    "buyerName",
    "buyerTel",
    "buyerEmail",
    "returnUrl",
    "currency",
    "goodsCnt",
    "mallReserved",
    "mallUserId",
    "userIp",
    "offeringPeriod",
    "vBankExpDate",
    "vBankExpTime",
    "receiptType",
    "receiptTypeNo",
    "appScheme",
    "logoUrl",
    "userId",
    "arsConnType",
];

/// The most characters each free-text goPay parameter may have, and the window code of a longer one
/// (`W015` for parameters without their own). The others are bounded by their format (`mid`, `moid`,
/// amounts, `buyerTel`, `goodsCnt`). The limits are the sandbox's choice: paydesk's own checkout
/// limits where it has them (goods name, buyer name, mallReserved), generous ones elsewhere.
pub const LIMITS: [(&str, usize, &str); 17] = [
    ("goodsName", 100, "W006"),
    ("buyerName", 30, "W011"),
    ("buyerEmail", 100, "W013"),
    ("returnUrl", 1_000, "W008"),
    ("mallReserved", 200, "W015"),
    ("mallUserId", 100, "W015"),
    ("userIp", 100, "W015"),
    ("currency", 10, "W015"),
    ("offeringPeriod", 100, "W015"),
    ("vBankExpDate", 100, "W015"),
    ("vBankExpTime", 100, "W015"),
    ("receiptType", 100, "W015"),
    ("receiptTypeNo", 100, "W015"),
    ("appScheme", 100, "W015"),
    ("logoUrl", 1_000, "W015"),
    ("userId", 100, "W015"),
    ("arsConnType", 100, "W015"),
];

/// A refused goPay parameter: window code and the Korean message the window shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamProblem {
    pub code: &'static str,
    pub message: String,
}

fn problem(code: &'static str, message: &str) -> ParamProblem {
    ParamProblem {
        code,
        message: message.to_string(),
    }
}

/// Valid goPay parameters.
#[derive(Clone, Debug)]
pub struct PayParams {
    pub pay_method: PayMethod,
    pub mid: Mid,
    pub moid: OrderId,
    pub goods_name: String,
    /// The taxable part in its currency's unit (won, US cents); the shopper pays `amt + tax_free_amt`.
    pub amt: Price,
    /// Won: a USD payment has no tax-free part.
    pub tax_free_amt: Amount,
    pub buyer_name: String,
    pub buyer_tel: String,
    pub buyer_email: String,
    pub return_url: Url,
    pub mall_reserved: String,
    pub mall_user_id: String,
    pub user_ip: String,
    pub goods_cnt: u32,
    /// The storefront app the window hands the shopper back to (`appScheme`), checked as paydesk
    /// checks it: the sandbox shows it as a link, so it must never run script on its page.
    pub app_scheme: Option<Url>,
    /// What a virtual account needs; present exactly when `pay_method` is VBANK.
    pub vbank: Option<VbankRequest>,
    /// The known parameters exactly as received, to carry through the window's pages.
    pub fields: Vec<(String, String)>,
}

/// A virtual account as goPay (or the shopper in the window) asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VbankRequest {
    /// The deposit deadline, in KST.
    pub due: OffsetDateTime,
    pub receipt: Option<CashReceiptRequest>,
}

/// A cash receipt (현금영수증) to issue on deposit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CashReceiptRequest {
    /// `1` 소득공제 (income deduction, a phone number), `2` 지출증빙 (expense proof, a business number).
    pub receipt_type: &'static str,
    /// The shopper's identifier, digits only.
    pub number: String,
}

impl CashReceiptRequest {
    /// `receiptType` and `receiptTypeNo` as goPay or the window send them; `None` when no receipt
    /// is asked for (`receiptType` empty or `0`).
    pub fn parse(receipt_type: &str, number: &str) -> Result<Option<Self>, ParamProblem> {
        let digits = |range: std::ops::RangeInclusive<usize>| {
            range.contains(&number.len()) && number.bytes().all(|b| b.is_ascii_digit())
        };
        let receipt_type = match receipt_type {
            "" | "0" => return Ok(None),
            "1" if digits(10..=11) => "1",
            "2" if digits(10..=10) => "2",
            "1" | "2" => {
                return Err(problem(
                    "W019",
                    "현금영수증 번호(receiptTypeNo)를 확인해 주세요: 소득공제는 휴대폰 번호, \
                     지출증빙은 사업자번호(10자리)를 숫자만 입력해 주세요.",
                ));
            }
            _ => {
                return Err(problem(
                    "W019",
                    "현금영수증 용도(receiptType)는 1(소득공제) 또는 2(지출증빙)여야 합니다.",
                ));
            }
        };
        Ok(Some(Self {
            receipt_type,
            number: number.to_string(),
        }))
    }

    /// The number as receipts and Noti show it: `010****5678`.
    pub fn masked(&self) -> String {
        let n = &self.number;
        format!(
            "{}{}{}",
            &n[..3],
            "*".repeat(n.len() - 7),
            &n[n.len() - 4..]
        )
    }
}

/// The deadline when goPay names none: three days from now, at the end of that day (KST).
const DEFAULT_DUE_DAYS: i64 = 3;
const END_OF_DAY: Time = time!(23:59:59);

/// `vBankExpDate` (`YYYYMMDD`) and `vBankExpTime` (`HHmmss`), both KST, each defaulted when absent;
/// the deadline must still be ahead of `now`.
fn due(date: &str, time_of_day: &str, now: OffsetDateTime) -> Result<OffsetDateTime, ParamProblem> {
    let now = now.to_offset(offset!(+9));
    let date = match date {
        "" => now.date() + Duration::days(DEFAULT_DUE_DAYS),
        raw => Date::parse(raw, format_description!("[year][month][day]"))
            .ok()
            .filter(|_| raw.len() == 8)
            .ok_or_else(|| {
                problem(
                    "W017",
                    "입금기한(vBankExpDate)은 YYYYMMDD 형식의 날짜여야 합니다.",
                )
            })?,
    };
    let time_of_day = match time_of_day {
        "" => END_OF_DAY,
        raw => Time::parse(raw, format_description!("[hour][minute][second]"))
            .ok()
            .filter(|_| raw.len() == 6)
            .ok_or_else(|| {
                problem(
                    "W017",
                    "입금기한 시각(vBankExpTime)은 HHmmss 형식이어야 합니다.",
                )
            })?,
    };
    let due = PrimitiveDateTime::new(date, time_of_day).assume_offset(offset!(+9));
    if due <= now {
        return Err(problem(
            "W018",
            "입금기한(vBankExpDate, vBankExpTime)이 이미 지났습니다.",
        ));
    }
    Ok(due)
}

impl PayParams {
    /// Checks the parameters in the order the window does; the first problem wins. `now` decides
    /// whether a virtual account's deadline has passed.
    pub fn parse(
        form: &HashMap<String, String>,
        now: OffsetDateTime,
    ) -> Result<Self, ParamProblem> {
        let get = |key: &str| form.get(key).map(|v| v.trim()).unwrap_or("");
        for (key, max, code) in LIMITS {
            if get(key).chars().count() > max {
                return Err(ParamProblem {
                    code,
                    message: format!("{key} 값은 {max}자 이내여야 합니다."),
                });
            }
        }
        let pay_method: PayMethod = get("payMethod")
            .parse()
            .map_err(|_| problem("W001", "결제수단(payMethod)을 확인해 주세요."))?;
        let mid: Mid = get("mid")
            .parse()
            .map_err(|_| problem("W002", "가맹점 ID(mid)를 확인해 주세요."))?;
        let moid: OrderId = get("moid").parse().map_err(|_| {
            problem(
                "W005",
                "주문번호(moid)는 영문, 숫자, _, - 40자 이내여야 합니다.",
            )
        })?;
        let goods_name = get("goodsName");
        if goods_name.is_empty() {
            return Err(problem("W006", "상품명(goodsName)을 입력해 주세요."));
        }
        // goPay `currency` (B): KRW unless given; only overseas cards are paid in dollars.
        let currency = match get("currency") {
            "" | "KRW" => Currency::Krw,
            "USD" if pay_method.rules().currencies.contains(&Currency::Usd) => Currency::Usd,
            _ => {
                return Err(problem(
                    "W023",
                    "통화(currency)를 확인해 주세요. 달러(USD)는 해외카드(OPCARD)로만 결제할 수 있습니다.",
                ));
            }
        };
        let amt = Price::parse(currency, get("amt"))
            .ok()
            .filter(|a| a.minor() > 0)
            .ok_or_else(|| problem("W007", "결제금액(amt)을 확인해 주세요."))?;
        let tax_free_amt = match get("taxFreeAmt") {
            "" => Amount::ZERO,
            raw => raw
                .parse()
                .map_err(|_| problem("W014", "면세금액(taxFreeAmt)을 확인해 주세요."))?,
        };
        if currency != Currency::Krw && tax_free_amt > Amount::ZERO {
            return Err(problem(
                "W014",
                "면세금액(taxFreeAmt)은 원화 결제에만 있습니다.",
            ));
        }
        if amt.plus_tax_free(tax_free_amt).is_none() {
            return Err(problem("W007", "결제금액(amt)을 확인해 주세요."));
        }
        let buyer_name = get("buyerName");
        if buyer_name.is_empty() {
            return Err(problem("W011", "구매자명(buyerName)을 입력해 주세요."));
        }
        let buyer_tel = get("buyerTel");
        if !(8..=12).contains(&buyer_tel.len()) || !buyer_tel.bytes().all(|b| b.is_ascii_digit()) {
            return Err(problem(
                "W012",
                "구매자 연락처(buyerTel)는 숫자만 입력해 주세요.",
            ));
        }
        let buyer_email = get("buyerEmail");
        if !is_email(buyer_email) {
            return Err(problem(
                "W013",
                "구매자 이메일(buyerEmail)을 확인해 주세요.",
            ));
        }
        let return_url = Url::parse(get("returnUrl"))
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| problem("W008", "인증결과 전송 URL(returnUrl)을 확인해 주세요."))?;
        let goods_cnt = match get("goodsCnt") {
            "" => 1,
            raw => raw
                .parse()
                .map_err(|_| problem("W009", "상품 수량(goodsCnt)을 확인해 주세요."))?,
        };
        let app_scheme = match get("appScheme") {
            "" => None,
            raw => Some(
                crate::domain::app_url(raw, 100)
                    .map_err(|_| problem("W022", "앱 복귀 주소(appScheme)를 확인해 주세요."))?,
            ),
        };
        let vbank = match pay_method {
            PayMethod::Vbank => Some(VbankRequest {
                due: due(get("vBankExpDate"), get("vBankExpTime"), now)?,
                receipt: CashReceiptRequest::parse(get("receiptType"), get("receiptTypeNo"))?,
            }),
            _ => None,
        };
        let fields = GOPAY_FIELDS
            .iter()
            .filter_map(|key| form.get(*key).map(|v| (key.to_string(), v.clone())))
            .collect();
        Ok(Self {
            pay_method,
            mid,
            moid,
            goods_name: goods_name.to_string(),
            amt,
            tax_free_amt,
            buyer_name: buyer_name.to_string(),
            buyer_tel: buyer_tel.to_string(),
            buyer_email: buyer_email.to_string(),
            return_url,
            mall_reserved: get("mallReserved").to_string(),
            mall_user_id: get("mallUserId").to_string(),
            user_ip: get("userIp").to_string(),
            goods_cnt,
            app_scheme,
            vbank,
            fields,
        })
    }

    /// What the shopper pays.
    pub fn total(&self) -> Price {
        self.amt
            .plus_tax_free(self.tax_free_amt)
            .expect("checked when parsed")
    }
}

fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_form() -> HashMap<String, String> {
        [
            ("payMethod", "CARD"),
            ("mid", "testpay01m"),
            ("moid", "test0120200814162443"),
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

    fn parse(form: &HashMap<String, String>) -> Result<PayParams, ParamProblem> {
        PayParams::parse(form, OffsetDateTime::now_utc())
    }

    #[test]
    fn the_seed_parameters_are_valid() {
        let params = parse(&seed_form()).unwrap();
        assert_eq!(params.total().minor(), 20000);
        assert_eq!(params.goods_cnt, 1);
        assert_eq!(params.fields.len(), 9);
    }

    #[test]
    fn each_bad_parameter_has_its_window_code() {
        for (key, value, code) in [
            ("payMethod", "CASH", "W001"),
            ("mid", "TESTPAY01M", "W002"),
            ("moid", "has space", "W005"),
            ("goodsName", " ", "W006"),
            ("amt", "0", "W007"),
            ("amt", "20,000", "W007"),
            ("taxFreeAmt", "-1", "W014"),
            ("buyerName", "", "W011"),
            ("buyerTel", "010-1234-5678", "W012"),
            ("buyerEmail", "test", "W013"),
            ("returnUrl", "/return", "W008"),
            ("goodsName", &"가".repeat(101), "W006"),
            ("buyerName", &"김".repeat(31), "W011"),
            ("mallReserved", &"r".repeat(201), "W015"),
        ] {
            let mut form = seed_form();
            form.insert(key.to_string(), value.to_string());
            assert_eq!(parse(&form).unwrap_err().code, code, "{key}={value}");
        }
    }

    fn vbank_form(extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut form = seed_form();
        form.insert("payMethod".into(), "VBANK".into());
        for (k, v) in extra {
            form.insert(k.to_string(), v.to_string());
        }
        form
    }

    #[test]
    fn a_virtual_account_deadline_defaults_to_three_days_at_the_end_of_the_day() {
        // 2026-12-02 23:30 KST.
        let now = time::macros::datetime!(2026-12-02 14:30 UTC);
        let due = |extra: &[(&str, &str)]| PayParams::parse(&vbank_form(extra), now);
        let kst = |d: time::PrimitiveDateTime| d.assume_offset(offset!(+9));
        let default = due(&[]).unwrap().vbank.unwrap();
        assert_eq!(
            default.due,
            kst(time::macros::datetime!(2026-12-05 23:59:59))
        );
        assert_eq!(default.receipt, None);
        let given = due(&[("vBankExpDate", "20261203"), ("vBankExpTime", "093000")]);
        assert_eq!(
            given.unwrap().vbank.unwrap().due,
            kst(time::macros::datetime!(2026-12-03 09:30:00))
        );
        // Today's end is still ahead; its start is not.
        assert!(due(&[("vBankExpDate", "20261202")]).is_ok());
        for (extra, code) in [
            (
                &[("vBankExpDate", "20261202"), ("vBankExpTime", "000000")][..],
                "W018",
            ),
            (&[("vBankExpDate", "20261201")][..], "W018"),
            (&[("vBankExpDate", "2026-12-03")][..], "W017"),
            (&[("vBankExpDate", "20261332")][..], "W017"),
            (&[("vBankExpTime", "2400")][..], "W017"),
            (&[("vBankExpTime", "246000")][..], "W017"),
        ] {
            assert_eq!(due(extra).unwrap_err().code, code, "{extra:?}");
        }
        // Cards ignore the virtual-account parameters.
        let mut card = vbank_form(&[("vBankExpDate", "yesterday")]);
        card.insert("payMethod".into(), "CARD".into());
        assert_eq!(PayParams::parse(&card, now).unwrap().vbank, None);
    }

    #[test]
    fn a_cash_receipt_needs_a_phone_or_business_number() {
        let receipt = |t: &str, n: &str| CashReceiptRequest::parse(t, n);
        assert_eq!(receipt("", "").unwrap(), None);
        assert_eq!(receipt("0", "01012345678").unwrap(), None);
        let phone = receipt("1", "01012345678").unwrap().unwrap();
        assert_eq!(
            (phone.receipt_type, phone.masked().as_str()),
            ("1", "010****5678")
        );
        let business = receipt("2", "1234567890").unwrap().unwrap();
        assert_eq!(business.masked(), "123***7890");
        for (t, n) in [
            ("1", ""),
            ("1", "010-1234-5678"),
            ("2", "01012345678"),
            ("3", "1234567890"),
        ] {
            assert_eq!(receipt(t, n).unwrap_err().code, "W019", "{t} {n}");
        }
        let form = vbank_form(&[("receiptType", "2"), ("receiptTypeNo", "12345")]);
        assert_eq!(parse(&form).unwrap_err().code, "W019");
    }
}
