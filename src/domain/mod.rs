//! The vocabulary every bounded context shares: money and Innopay's identifiers, parsed once at the
//! edge so that the rest of the program cannot hold an invalid one. Each parse error says, in English,
//! what was expected; callers attach the field name.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod bank;
mod failure;
mod method;

pub use bank::{BANKS, Bank, BankCode};
pub use failure::FailureCode;
pub use method::{
    BankTransfer, CardDetails, CashReceipt, CashReceiptPurpose, Deposit, EpayDetails,
    IssuedAccount, IssuedReceipt, MethodDetails, VirtualAccount, Wallet,
};

/// Korea Standard Time: Innopay's clock and the one shoppers read.
pub const KST: time::UtcOffset = time::macros::offset!(+9);

/// A time as shoppers and Innopay write it: KST `YYYY-MM-DD HH:MM:SS`.
pub fn kst_text(t: time::OffsetDateTime) -> String {
    t.to_offset(KST)
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .unwrap_or_default()
}

/// Digits with all but the first three and last four hidden: `010****5678`.
pub fn mask_digits(digits: &str) -> String {
    let chars: Vec<char> = digits.chars().collect();
    if chars.len() <= 7 {
        return "*".repeat(chars.len());
    }
    let hidden = chars.len() - 7;
    chars[..3]
        .iter()
        .chain(std::iter::repeat_n(&'*', hidden))
        .chain(&chars[chars.len() - 4..])
        .collect()
}

/// Bidirectional embedding, override and isolate controls: they make text display in another order
/// than it is stored (a goods name that reads differently to the shopper than to the storefront).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing: white space, zero-width characters, fillers, format controls.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2060}'..='\u{2064}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
        )
        || is_bidi_control(c)
}

/// An absolute http(s) URL with a host, of at most `max_len` bytes, taken exactly as written: the
/// URL parser silently drops tabs and line breaks, so a URL that has any control character or inner
/// white space is refused instead of being read as another one.
pub fn web_url(raw: &str, max_len: usize) -> Result<url::Url, InvalidValue> {
    let raw = raw.trim_matches(' ');
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(InvalidValue(
            "a URL without spaces, tabs, line breaks or other control characters".into(),
        ));
    }
    url::Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host() && raw.len() <= max_len)
        .ok_or_else(|| {
            InvalidValue(format!(
                "an absolute http(s) URL of at most {max_len} characters"
            ))
        })
}

/// Schemes an `appScheme` may not have: they run script (`javascript`, `vbscript`), carry a page
/// (`data`, `blob`), read the shopper's files (`file`), or are the web, not an app (`http`, `https`,
/// `about`: a storefront's web pages are `successUrl`'s). An app URL is where the payment window
/// sends the browser after a card, bank or wallet app, so it must only ever open an app.
const NOT_APP_SCHEMES: [&str; 8] = [
    "javascript",
    "vbscript",
    "data",
    "blob",
    "file",
    "http",
    "https",
    "about",
];

/// A storefront app's URL (`myshop://payments/return`, Android's `intent://...`): `scheme://` and
/// more, of at most `max_len` bytes, without white space or control characters, its scheme
/// (letters first, then letters, digits, `+`, `-`, `.`) none of `NOT_APP_SCHEMES` in any case.
pub fn app_url(raw: &str, max_len: usize) -> Result<url::Url, InvalidValue> {
    let expected = || {
        InvalidValue(format!(
            "an app URL such as myshop://payments/return of at most {max_len} characters, without \
             spaces or control characters"
        ))
    };
    if raw.len() > max_len || raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(expected());
    }
    let (scheme, rest) = raw.split_once("://").ok_or_else(expected)?;
    let well_formed = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty();
    if !well_formed {
        return Err(expected());
    }
    let lower = scheme.to_ascii_lowercase();
    if NOT_APP_SCHEMES.contains(&lower.as_str()) {
        return Err(InvalidValue(format!(
            "an app's own scheme, not {lower}: (scripts, data, files and web pages are refused)"
        )));
    }
    url::Url::parse(raw).map_err(|_| expected())
}

/// Why a value could not become a domain type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// The unit an amount of money counts in: each unit knows its currency, its bounds and how it is
/// written, so an amount in one unit is a different type from an amount in another.
pub trait Unit:
    Clone + Copy + fmt::Debug + PartialEq + Eq + PartialOrd + Ord + std::hash::Hash + Default
{
    const CURRENCY: Currency;
    /// The largest amount a payment, a cancel or a sum of them may reach in this unit.
    const MAX: i64;
    /// How an error names the unit: "a whole number of {WORDING}".
    const WORDING: &'static str;
}

/// Whole Korean won, Innopay's unit for KRW (A).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Won;

/// US cents. Innopay's unit for USD amounts is not known (grade C): paydesk assumes the smallest unit,
/// cents, as the amounts of every other currency are whole numbers of it. 1.00 USD is `100`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UsCent;

impl Unit for Won {
    const CURRENCY: Currency = Currency::Krw;
    /// Below 10^12 (far above any card limit) so sums can never overflow.
    const MAX: i64 = 999_999_999_999;
    const WORDING: &'static str = "won";
}

impl Unit for UsCent {
    const CURRENCY: Currency = Currency::Usd;
    /// 100,000.00 USD: above what an overseas card pays for one order (paydesk's choice).
    const MAX: i64 = 10_000_000;
    const WORDING: &'static str = "US cents";
}

/// An amount of money in one unit: never negative, never above the unit's `MAX`. Sums and
/// differences exist only between amounts of the same unit, so won cannot be added to cents:
///
/// ```compile_fail
/// use paydesk::domain::{Money, UsCent, Won};
/// let won = Money::<Won>::new(1000).unwrap();
/// let cents = Money::<UsCent>::new(1000).unwrap();
/// let _ = won.checked_add(cents);
/// ```
///
/// ```compile_fail
/// use paydesk::domain::{Money, UsCent, Won};
/// let won = Money::<Won>::new(1000).unwrap();
/// let cents = Money::<UsCent>::new(1000).unwrap();
/// let _ = won < cents;
/// ```
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent, bound = "")]
pub struct Money<U: Unit>(i64, #[serde(skip)] std::marker::PhantomData<U>);

/// An amount of Korean won: what every method but a USD overseas card is paid in.
pub type Amount = Money<Won>;

/// An amount of US cents.
pub type UsdAmount = Money<UsCent>;

impl<U: Unit> Money<U> {
    pub const MAX: i64 = U::MAX;
    pub const ZERO: Self = Money(0, std::marker::PhantomData);

    /// `minor` counts the unit (won, cents).
    pub fn new(minor: i64) -> Result<Self, InvalidValue> {
        if (0..=U::MAX).contains(&minor) {
            Ok(Self(minor, std::marker::PhantomData))
        } else {
            Err(InvalidValue(format!(
                "an amount in whole {} between 0 and {}, got {minor}",
                U::WORDING,
                U::MAX
            )))
        }
    }

    /// The number of units (won, cents): what Innopay and the database hold.
    pub fn minor(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Self) -> Option<Self> {
        Self::new(self.0.checked_add(other.0)?).ok()
    }

    pub fn checked_sub(self, other: Self) -> Option<Self> {
        Self::new(self.0.checked_sub(other.0)?).ok()
    }

    fn not_whole(got: impl fmt::Display) -> InvalidValue {
        InvalidValue(format!("a whole number of {}, got {got}", U::WORDING))
    }

    /// Reads an amount from JSON the way Innopay writes them: a number (`20000`) or a numeric string
    /// (`"20000"`); both directions of the API have been seen with either.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, InvalidValue> {
        match value {
            serde_json::Value::Number(n) => n
                .as_i64()
                .ok_or_else(|| Self::not_whole(n))
                .and_then(Self::new),
            serde_json::Value::String(s) => s.parse(),
            other => Err(Self::not_whole(other)),
        }
    }
}

impl Money<Won> {
    pub fn won(self) -> i64 {
        self.0
    }
}

impl<U: Unit> fmt::Display for Money<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl<U: Unit> FromStr for Money<U> {
    type Err = InvalidValue;

    /// Accepts `20000` and, as Innopay sometimes sends, `"20000"`; rejects signs, decimals, spaces.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Self::not_whole(format_args!("{s:?}")));
        }
        Self::new(
            s.parse()
                .map_err(|_| Self::not_whole(format_args!("{s:?}")))?,
        )
    }
}

/// An amount whose currency is data (a stored payment, a request): match it to get a typed amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Price {
    Krw(Money<Won>),
    Usd(Money<UsCent>),
}

impl Price {
    /// `minor` units (won, cents) of `currency`, within the unit's bounds.
    pub fn new(currency: Currency, minor: i64) -> Result<Price, InvalidValue> {
        Ok(match currency {
            Currency::Krw => Price::Krw(Money::new(minor)?),
            Currency::Usd => Price::Usd(Money::new(minor)?),
        })
    }

    /// Reads an amount written as text in `currency`'s unit (a query string's `amt`).
    pub fn parse(currency: Currency, text: &str) -> Result<Price, InvalidValue> {
        Ok(match currency {
            Currency::Krw => Price::Krw(text.parse()?),
            Currency::Usd => Price::Usd(text.parse()?),
        })
    }

    /// Reads an amount from Innopay's JSON in `currency`'s unit.
    pub fn from_json(currency: Currency, value: &serde_json::Value) -> Result<Price, InvalidValue> {
        Ok(match currency {
            Currency::Krw => Price::Krw(Money::from_json(value)?),
            Currency::Usd => Price::Usd(Money::from_json(value)?),
        })
    }

    pub fn currency(self) -> Currency {
        match self {
            Price::Krw(_) => Currency::Krw,
            Price::Usd(_) => Currency::Usd,
        }
    }

    /// The number of units (won, cents), as Innopay's `amt` and the database carry it.
    pub fn minor(self) -> i64 {
        match self {
            Price::Krw(m) => m.minor(),
            Price::Usd(m) => m.minor(),
        }
    }

    /// The same currency's amount `minor`: a sum, a remainder of this price.
    pub fn with_minor(self, minor: i64) -> Result<Price, InvalidValue> {
        Price::new(self.currency(), minor)
    }

    /// The sum of two prices of one currency; `None` for two currencies (no amount is both) or
    /// beyond the unit's bounds.
    pub fn checked_add(self, other: Price) -> Option<Price> {
        match (self, other) {
            (Price::Krw(a), Price::Krw(b)) => a.checked_add(b).map(Price::Krw),
            (Price::Usd(a), Price::Usd(b)) => a.checked_add(b).map(Price::Usd),
            _ => None,
        }
    }

    /// `self - other` of one currency, like `checked_add`.
    pub fn checked_sub(self, other: Price) -> Option<Price> {
        match (self, other) {
            (Price::Krw(a), Price::Krw(b)) => a.checked_sub(b).map(Price::Krw),
            (Price::Usd(a), Price::Usd(b)) => a.checked_sub(b).map(Price::Usd),
            _ => None,
        }
    }

    /// A taxable part and a tax-free part (won): only a won price has a tax-free part, so a dollar
    /// price with one is `None`, as is a sum beyond the bounds.
    pub fn plus_tax_free(self, tax_free: Money<Won>) -> Option<Price> {
        match self {
            Price::Krw(taxable) => taxable.checked_add(tax_free).map(Price::Krw),
            Price::Usd(_) if tax_free == Money::ZERO => Some(self),
            Price::Usd(_) => None,
        }
    }

    /// Nothing, in `currency`.
    pub fn zero(currency: Currency) -> Price {
        match currency {
            Currency::Krw => Price::Krw(Money::ZERO),
            Currency::Usd => Price::Usd(Money::ZERO),
        }
    }

    /// How shoppers and operators read it: `12,000 원`, `$12.34`.
    pub fn text(self) -> String {
        match self {
            Price::Krw(m) => format!("{} 원", grouped(m.minor())),
            Price::Usd(m) => format!("${}.{:02}", grouped(m.minor() / 100), m.minor() % 100),
        }
    }
}

/// Digits in groups of three: `20,000`, `-1,500`.
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::from(if n < 0 { "-" } else { "" });
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $check:expr, $expected:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let check: fn(&str) -> bool = $check;
                if check(s) {
                    Ok(Self(s.to_string()))
                } else {
                    Err(InvalidValue(format!(concat!($expected, ", got {:?}"), s)))
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

fn is_order_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

identifier!(
    /// A merchant's order number (Innopay `moid`): 1 to 40 of `[A-Za-z0-9_-]`.
    OrderId,
    |s| (1..=40).contains(&s.len()) && s.bytes().all(is_order_char),
    "1 to 40 characters of A-Z, a-z, 0-9, _ or -"
);

identifier!(
    /// An Innopay merchant id (`mid`), e.g. `testpay01m`: 10 lower-case letters or digits.
    Mid,
    |s| s.len() == 10 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
    "a 10-character Innopay MID of lower-case letters and digits"
);

identifier!(
    /// An Innopay transaction id: 30 characters, MID(10) + svcCd(2) + svcPrdtCd(2) + yyMMddHHmmss(12)
    /// + 4 digits. Only the length and alphabet are checked, since real TIDs are Innopay's to shape.
    Tid,
    |s| s.len() == 30 && s.bytes().all(|b| b.is_ascii_alphanumeric()),
    "a 30-character Innopay TID of letters and digits"
);

/// Payment methods of Innopay's window (`payMethod`), stored as their code: an unknown stored value
/// is an error naming it, never read as a card.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    sea_orm::EnumIter,
    sea_orm::DeriveActiveEnum,
)]
#[serde(rename_all = "UPPERCASE")]
#[sea_orm(
    rs_type = "String",
    db_type = "String(sea_orm::sea_query::StringLen::None)"
)]
pub enum PayMethod {
    /// 신용카드
    #[sea_orm(string_value = "CARD")]
    Card,
    /// 계좌이체
    #[sea_orm(string_value = "BANK")]
    Bank,
    /// 가상계좌
    #[sea_orm(string_value = "VBANK")]
    Vbank,
    /// 간편결제
    #[sea_orm(string_value = "EPAY")]
    Epay,
    /// 해외카드
    #[sea_orm(string_value = "OPCARD")]
    Opcard,
    /// 계좌간편결제
    #[sea_orm(string_value = "EBANK")]
    Ebank,
}

impl PayMethod {
    pub const ALL: [PayMethod; 6] = [
        PayMethod::Card,
        PayMethod::Bank,
        PayMethod::Vbank,
        PayMethod::Epay,
        PayMethod::Opcard,
        PayMethod::Ebank,
    ];

    pub fn code(self) -> &'static str {
        match self {
            PayMethod::Card => "CARD",
            PayMethod::Bank => "BANK",
            PayMethod::Vbank => "VBANK",
            PayMethod::Epay => "EPAY",
            PayMethod::Opcard => "OPCARD",
            PayMethod::Ebank => "EBANK",
        }
    }

    /// Innopay's service code (`svcCd`), used in TIDs and cancel requests.
    pub fn service_code(self) -> &'static str {
        match self {
            PayMethod::Card => "01",
            PayMethod::Bank => "02",
            PayMethod::Vbank => "03",
            PayMethod::Ebank => "12",
            PayMethod::Epay => "16",
            PayMethod::Opcard => "23",
        }
    }
}

/// A currency a payment is made in. Korean methods take won only; overseas cards (OPCARD) also
/// take US dollars (Innopay's goPay `currency`, B). Stored as its ISO code.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    sea_orm::EnumIter,
    sea_orm::DeriveActiveEnum,
)]
#[serde(rename_all = "UPPERCASE")]
#[sea_orm(
    rs_type = "String",
    db_type = "String(sea_orm::sea_query::StringLen::None)"
)]
pub enum Currency {
    #[sea_orm(string_value = "KRW")]
    Krw,
    #[sea_orm(string_value = "USD")]
    Usd,
}

impl Currency {
    pub const ALL: [Currency; 2] = [Currency::Krw, Currency::Usd];

    /// The ISO 4217 code, as goPay's `currency` takes it.
    pub fn code(self) -> &'static str {
        match self {
            Currency::Krw => "KRW",
            Currency::Usd => "USD",
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What a payment method allows and needs: the one table the API, the service, the sandbox and the
/// spec read (`rules_table` renders it for the spec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MethodRules {
    /// paydesk takes checkouts for it.
    pub enabled: bool,
    /// The approval only issues something (an account); the money arrives later, by deposit.
    pub paid_later: bool,
    /// Money goes back to a bank account the storefront names, not to a card.
    pub refunds_to_account: bool,
    /// Part of the payment may be cancelled; otherwise only the whole of it.
    pub partial_cancel: bool,
    /// The checkout may carry a tax-free part (`taxFreeAmount`, Innopay `taxFreeAmt`).
    pub tax_free_part: bool,
    /// The currencies a checkout may be in.
    pub currencies: &'static [Currency],
}

const KRW_ONLY: &[Currency] = &[Currency::Krw];

impl PayMethod {
    /// Grades: partial cancels of easy pay are reported unsupported (C, one integration; the sandbox
    /// can be told otherwise); refunds of bank-paid methods name an account (B); overseas cards
    /// take USD (B) and, paid from abroad, carry no Korean VAT split, so no tax-free part (paydesk's
    /// choice, Innopay's window code W014 "tax-free not allowed" exists for it). A USD payment's
    /// amounts are `Money<UsCent>` from the request to Innopay and back.
    pub fn rules(self) -> MethodRules {
        let korean = MethodRules {
            enabled: true,
            paid_later: false,
            refunds_to_account: false,
            partial_cancel: true,
            tax_free_part: true,
            currencies: KRW_ONLY,
        };
        match self {
            PayMethod::Card => korean,
            PayMethod::Vbank => MethodRules {
                paid_later: true,
                refunds_to_account: true,
                ..korean
            },
            PayMethod::Bank | PayMethod::Ebank => MethodRules {
                refunds_to_account: true,
                ..korean
            },
            PayMethod::Epay => MethodRules {
                partial_cancel: false,
                ..korean
            },
            PayMethod::Opcard => MethodRules {
                tax_free_part: false,
                currencies: &Currency::ALL,
                ..korean
            },
        }
    }

    /// The rules of every method as a Markdown table: the spec's description of `PayMethod` carries
    /// it, and a test holds the two equal.
    pub fn rules_table() -> String {
        let yes = |b: bool| if b { "yes" } else { "no" };
        let mut table = String::from(
            "| method | enabled | paid later | refund account needed | partial cancel | tax-free part | currencies |\n\
             | --- | --- | --- | --- | --- | --- | --- |\n",
        );
        for method in PayMethod::ALL {
            let r = method.rules();
            let currencies: Vec<&str> = r.currencies.iter().map(|c| c.code()).collect();
            table.push_str(&format!(
                "| `{method}` | {} | {} | {} | {} | {} | {} |\n",
                yes(r.enabled),
                yes(r.paid_later),
                yes(r.refunds_to_account),
                yes(r.partial_cancel),
                yes(r.tax_free_part),
                currencies.join(", ")
            ));
        }
        table
    }
}

impl FromStr for PayMethod {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PayMethod::ALL
            .into_iter()
            .find(|m| m.code() == s)
            .ok_or_else(|| {
                InvalidValue(format!(
                    "one of CARD, BANK, VBANK, EPAY, OPCARD, EBANK, got {s:?}"
                ))
            })
    }
}

impl fmt::Display for PayMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Payment methods in the order they are offered, none twice, at least one: a storefront's allowed
/// methods, a checkout's offered ones. Stored as their codes joined by commas (`CARD,EPAY`); a
/// stored code that is no method is an error naming it.
#[derive(Clone, Debug, PartialEq, Eq, sea_orm::DeriveValueType)]
#[sea_orm(value_type = "String", column_type = "Text")]
pub struct PayMethods(Vec<PayMethod>);

impl PayMethods {
    /// `methods` without repeats, in their first order; `None` when there are none.
    pub fn new(methods: impl IntoIterator<Item = PayMethod>) -> Option<Self> {
        let mut kept = Vec::new();
        for method in methods {
            if !kept.contains(&method) {
                kept.push(method);
            }
        }
        (!kept.is_empty()).then_some(Self(kept))
    }

    pub fn contains(&self, method: PayMethod) -> bool {
        self.0.contains(&method)
    }

    pub fn first(&self) -> PayMethod {
        self.0[0]
    }

    pub fn iter(&self) -> impl Iterator<Item = PayMethod> + '_ {
        self.0.iter().copied()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never: a `PayMethods` has at least one method.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl FromStr for PayMethods {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let methods = s
            .split(',')
            .map(|code| code.trim().parse::<PayMethod>())
            .collect::<Result<Vec<_>, _>>()?;
        PayMethods::new(methods).ok_or_else(|| InvalidValue("at least one payment method".into()))
    }
}

impl fmt::Display for PayMethods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let codes: Vec<&str> = self.iter().map(PayMethod::code).collect();
        f.write_str(&codes.join(","))
    }
}

/// A card company as Innopay codes it (`fnCd` / `acquCardCode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CardCompany {
    pub code: &'static str,
    /// Innopay's short Korean name, as in `fnName` ("현대").
    pub name: &'static str,
    /// Uses ISP (안전결제/일반결제 ISP, run by VP) rather than 안심클릭; ISP needs a certificate at
    /// 300,000 won or more.
    pub isp: bool,
}

/// The card companies of Innopay's window. ISP membership follows the Innopay guide (BC and KB 국민,
/// and 우리 among the ISP-password card companies it lists).
pub const CARD_COMPANIES: [CardCompany; 15] = [
    CardCompany {
        code: "01",
        name: "비씨",
        isp: true,
    },
    CardCompany {
        code: "02",
        name: "국민",
        isp: true,
    },
    CardCompany {
        code: "03",
        name: "하나(외환)",
        isp: false,
    },
    CardCompany {
        code: "04",
        name: "삼성",
        isp: false,
    },
    CardCompany {
        code: "06",
        name: "신한",
        isp: false,
    },
    CardCompany {
        code: "07",
        name: "현대",
        isp: false,
    },
    CardCompany {
        code: "08",
        name: "롯데",
        isp: false,
    },
    CardCompany {
        code: "11",
        name: "씨티",
        isp: false,
    },
    CardCompany {
        code: "12",
        name: "NH",
        isp: false,
    },
    CardCompany {
        code: "15",
        name: "우리",
        isp: true,
    },
    CardCompany {
        code: "16",
        name: "하나",
        isp: false,
    },
    CardCompany {
        code: "25",
        name: "VISA",
        isp: false,
    },
    CardCompany {
        code: "26",
        name: "Master",
        isp: false,
    },
    CardCompany {
        code: "28",
        name: "AMEX",
        isp: false,
    },
    CardCompany {
        code: "29",
        name: "JCB",
        isp: false,
    },
];

/// Amount at or above which ISP payments need the cardholder's certificate and ARS (Innopay guide).
pub const ISP_CERTIFICATE_THRESHOLD: i64 = 300_000;

pub fn card_company(code: &str) -> Option<&'static CardCompany> {
    CARD_COMPANIES.iter().find(|c| c.code == code)
}

/// Finds a company by code or by (a prefix of) its Korean name, e.g. "비씨", "국민카드", "KB국민".
pub fn card_company_by_name(name: &str) -> Option<&'static CardCompany> {
    let name = name
        .trim()
        .trim_end_matches("카드")
        .trim_start_matches("KB");
    card_company(name).or_else(|| {
        CARD_COMPANIES
            .iter()
            .find(|c| !name.is_empty() && c.name == name)
    })
}

/// A storefront's and its payments' mode: test MIDs move no real money. Stored as its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, sea_orm::EnumIter, sea_orm::DeriveActiveEnum)]
#[sea_orm(
    rs_type = "String",
    db_type = "String(sea_orm::sea_query::StringLen::None)"
)]
pub enum Mode {
    #[sea_orm(string_value = "test")]
    Test,
    #[sea_orm(string_value = "live")]
    Live,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Test => "test",
            Mode::Live => "live",
        }
    }
}

/// What a recorded change of a payment was; its history stores `as_str`. One list, so a kind is
/// never spelled two ways. Histories read back keep their text: rows written before a kind was
/// renamed still read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    Created,
    ApprovalStarted,
    WindowCancelled,
    WindowNotCompleted,
    AmountMismatch,
    OrderMismatch,
    Paid,
    CancelledAtInnopay,
    Declined,
    OutcomeUnknown,
    ApprovalNotSent,
    NetCancelStarted,
    NetCancelled,
    NetCancelUnconfirmed,
    CancelRequested,
    CancelOutcomeUnknown,
    CancelDeclined,
    CancelNotSent,
    Cancelled,
    PartiallyCancelled,
    CancelNotApplied,
    NotApprovedAtInnopay,
    Expired,
    AccountIssued,
    Deposited,
    DepositFlagged,
}

impl EventKind {
    pub const ALL: [EventKind; 26] = [
        EventKind::Created,
        EventKind::ApprovalStarted,
        EventKind::WindowCancelled,
        EventKind::WindowNotCompleted,
        EventKind::AmountMismatch,
        EventKind::OrderMismatch,
        EventKind::Paid,
        EventKind::CancelledAtInnopay,
        EventKind::Declined,
        EventKind::OutcomeUnknown,
        EventKind::ApprovalNotSent,
        EventKind::NetCancelStarted,
        EventKind::NetCancelled,
        EventKind::NetCancelUnconfirmed,
        EventKind::CancelRequested,
        EventKind::CancelOutcomeUnknown,
        EventKind::CancelDeclined,
        EventKind::CancelNotSent,
        EventKind::Cancelled,
        EventKind::PartiallyCancelled,
        EventKind::CancelNotApplied,
        EventKind::NotApprovedAtInnopay,
        EventKind::Expired,
        EventKind::AccountIssued,
        EventKind::Deposited,
        EventKind::DepositFlagged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::ApprovalStarted => "approval_started",
            EventKind::WindowCancelled => "window_cancelled",
            EventKind::WindowNotCompleted => "window_not_completed",
            EventKind::AmountMismatch => "amount_mismatch",
            EventKind::OrderMismatch => "order_mismatch",
            EventKind::Paid => "paid",
            EventKind::CancelledAtInnopay => "cancelled_at_innopay",
            EventKind::Declined => "declined",
            EventKind::OutcomeUnknown => "outcome_unknown",
            EventKind::ApprovalNotSent => "approval_not_sent",
            EventKind::NetCancelStarted => "net_cancel_started",
            EventKind::NetCancelled => "net_cancelled",
            EventKind::NetCancelUnconfirmed => "net_cancel_unconfirmed",
            EventKind::CancelRequested => "cancel_requested",
            EventKind::CancelOutcomeUnknown => "cancel_outcome_unknown",
            EventKind::CancelDeclined => "cancel_declined",
            EventKind::CancelNotSent => "cancel_not_sent",
            EventKind::Cancelled => "cancelled",
            EventKind::PartiallyCancelled => "partially_cancelled",
            EventKind::CancelNotApplied => "cancel_not_applied",
            EventKind::NotApprovedAtInnopay => "not_approved_at_innopay",
            EventKind::Expired => "expired",
            EventKind::AccountIssued => "account_issued",
            EventKind::Deposited => "deposited",
            EventKind::DepositFlagged => "deposit_flagged",
        }
    }
}

/// Who or what caused a recorded change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    /// the storefront's API call
    Api,
    /// the shopper's browser returning from the payment window
    ShopperReturn,
    /// a shopper opening a page
    Shopper,
    /// Innopay's answer to paydesk's own call
    Gateway,
    /// the reconciler's inquiry
    Reconciler,
    /// a Noti from Innopay, confirmed by inquiry
    InnopayNoti,
    /// a person, by the CLI
    Operator,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Api => "api",
            Cause::ShopperReturn => "shopper_return",
            Cause::Shopper => "shopper",
            Cause::Gateway => "gateway",
            Cause::Reconciler => "reconciler",
            Cause::InnopayNoti => "innopay_noti",
            Cause::Operator => "operator",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every method's row, against what the service and the API do with it.
    #[test]
    fn the_method_table_holds_for_every_method() {
        for method in PayMethod::ALL {
            let r = method.rules();
            assert!(
                r.currencies.contains(&Currency::Krw),
                "{method}: every method takes won"
            );
            if r.paid_later {
                assert!(
                    r.refunds_to_account,
                    "{method}: money deposited is refunded to an account"
                );
            }
            if r.currencies.contains(&Currency::Usd) {
                assert!(!r.tax_free_part, "{method}: no Korean VAT split abroad");
            }
            assert_eq!(method.code().parse::<PayMethod>().unwrap(), method);
        }
        // The rules the issue names, as chosen.
        assert!(!PayMethod::Epay.rules().partial_cancel);
        assert!(PayMethod::Bank.rules().refunds_to_account);
        assert!(PayMethod::Ebank.rules().refunds_to_account);
        assert!(!PayMethod::Card.rules().refunds_to_account);
        assert!(PayMethod::Vbank.rules().paid_later);
        let table = PayMethod::rules_table();
        assert_eq!(table.lines().count(), 2 + PayMethod::ALL.len(), "{table}");
        assert!(
            table.contains("| `EPAY` | yes | no | no | no | yes | KRW |"),
            "{table}"
        );
        assert!(
            table.contains("| `OPCARD` | yes | no | no | yes | no | KRW, USD |"),
            "{table}"
        );
    }

    #[test]
    fn method_lists_keep_their_order_once_each_and_read_back() {
        use PayMethod::*;
        let offered = PayMethods::new([Epay, Card, Epay]).unwrap();
        assert_eq!(offered.to_string(), "EPAY,CARD");
        assert_eq!(offered.first(), Epay);
        assert_eq!("EPAY,CARD".parse::<PayMethods>().unwrap(), offered);
        assert!(PayMethods::new([]).is_none());
        assert!(
            "CARD,CHEQUE"
                .parse::<PayMethods>()
                .unwrap_err()
                .0
                .contains("CHEQUE")
        );
    }

    #[test]
    fn app_urls_open_only_apps() {
        for good in [
            "myshop://payments/return?x=1",
            "kakao1234://pay",
            "intent://pay#Intent;end",
        ] {
            assert!(app_url(good, 200).is_ok(), "{good}");
        }
        for bad in [
            "javascript://alert(1)",
            "JavaScript://%0aalert(1)",
            "vbscript://x",
            "data://text/html,x",
            "file:///etc/passwd",
            "https://shop.example/return",
            "http://shop.example",
            "myshop",
            "myshop://",
            "my shop://x",
            "1shop://x",
            "myshop://a\tb",
        ] {
            assert!(app_url(bad, 200).is_err(), "{bad}");
        }
        assert!(app_url(&format!("myshop://{}", "a".repeat(200)), 200).is_err());
    }

    #[test]
    fn event_kinds_are_spelled_once() {
        let mut seen = std::collections::HashSet::new();
        for kind in EventKind::ALL {
            assert!(seen.insert(kind.as_str()), "{kind:?} twice");
        }
    }

    /// Every pair of statuses, against the rules money depends on.
    #[test]
    fn the_transition_table_keeps_money_rules_for_every_pair() {
        use PaymentStatus::*;
        let took_money = |s: PaymentStatus| matches!(s, Paid | PartiallyCancelled | Cancelled);
        let final_status = |s: PaymentStatus| matches!(s, Failed | Expired | Cancelled);
        for from in PaymentStatus::ALL {
            for to in PaymentStatus::ALL {
                let allowed = from.may_become().contains(&to);
                let pair = format!("{from} -> {to}");
                if final_status(from) {
                    assert!(!allowed, "{pair}: final statuses change no more");
                }
                if took_money(from) && !took_money(to) {
                    assert!(
                        !allowed,
                        "{pair}: money taken is only ever given back by a cancel"
                    );
                }
                if to == Approving {
                    assert_eq!(
                        allowed,
                        from == Ready,
                        "{pair}: only a payable checkout is claimed"
                    );
                }
                if to == Ready {
                    assert_eq!(
                        allowed,
                        matches!(from, Ready | Approving),
                        "{pair}: payable again only when nothing was charged"
                    );
                }
                if to == Expired {
                    assert_eq!(
                        allowed,
                        matches!(from, Ready | AwaitingDeposit),
                        "{pair}: only an unpaid checkout or account expires"
                    );
                }
                if to == AwaitingDeposit {
                    assert_eq!(
                        allowed,
                        matches!(from, Approving | Unknown | AwaitingDeposit),
                        "{pair}: an account is issued only by Innopay's answer"
                    );
                }
            }
            // Every status can end: some path leads to a final one.
            let mut seen = vec![from];
            let mut next = 0;
            while next < seen.len() {
                for &to in seen[next].may_become() {
                    if !seen.contains(&to) {
                        seen.push(to);
                    }
                }
                next += 1;
            }
            assert!(seen.into_iter().any(final_status), "{from} can never end");
        }
    }

    #[test]
    fn amounts_are_whole_non_negative_won() {
        assert_eq!("20000".parse::<Amount>().unwrap().won(), 20000);
        assert!("-1".parse::<Amount>().is_err());
        assert!("1.5".parse::<Amount>().is_err());
        assert!(" 1".parse::<Amount>().is_err());
        assert!("".parse::<Amount>().is_err());
        assert!(Amount::new(Amount::MAX + 1).is_err());
        assert_eq!(
            Amount::new(5).unwrap().checked_sub(Amount::new(6).unwrap()),
            None
        );
    }

    #[test]
    fn us_amounts_are_cents_within_their_own_bounds() {
        let cents: UsdAmount = "1234".parse().unwrap();
        assert_eq!(cents.minor(), 1234);
        assert!(UsdAmount::new(UsdAmount::MAX + 1).is_err());
        assert!(Amount::new(UsdAmount::MAX + 1).is_ok());
        assert!(
            "12.34"
                .parse::<UsdAmount>()
                .unwrap_err()
                .0
                .contains("US cents")
        );
        assert_eq!(Price::new(Currency::Usd, 1234).unwrap(), Price::Usd(cents));
        assert_eq!(Price::parse(Currency::Krw, "20000").unwrap().minor(), 20000);
        assert!(Price::new(Currency::Usd, UsdAmount::MAX + 1).is_err());
        let won = Price::Krw(Amount::new(1234).unwrap());
        assert_eq!(
            won.checked_add(Price::Usd(cents)),
            None,
            "won and cents never add up"
        );
        assert_eq!(
            Price::Usd(cents).checked_sub(Price::Usd(cents)),
            Some(Price::zero(Currency::Usd))
        );
    }

    #[test]
    fn prices_read_as_their_currency_is_written() {
        assert_eq!(Price::Usd(UsdAmount::new(1234).unwrap()).text(), "$12.34");
        assert_eq!(Price::Usd(UsdAmount::new(5).unwrap()).text(), "$0.05");
        assert_eq!(
            Price::Usd(UsdAmount::new(123_456_700).unwrap_or(UsdAmount::ZERO)).text(),
            "$0.00"
        );
        assert_eq!(
            Price::Usd(UsdAmount::new(1_234_500).unwrap()).text(),
            "$12,345.00"
        );
        assert_eq!(Price::Krw(Amount::new(12_000).unwrap()).text(), "12,000 원");
    }

    #[test]
    fn json_amounts_may_be_numbers_or_numeric_strings() {
        use serde_json::json;
        assert_eq!(Amount::from_json(&json!(20000)).unwrap().won(), 20000);
        assert_eq!(Amount::from_json(&json!("20000")).unwrap().won(), 20000);
        assert!(Amount::from_json(&json!(1.5)).is_err());
        assert!(Amount::from_json(&json!(-1)).is_err());
        assert!(Amount::from_json(&json!("1,000")).is_err());
        assert!(Amount::from_json(&json!(null)).is_err());
    }

    #[test]
    fn identifiers_follow_innopay_formats() {
        assert!("test0120200814162443".parse::<OrderId>().is_ok());
        assert!("a".repeat(41).parse::<OrderId>().is_err());
        assert!("order 1".parse::<OrderId>().is_err());
        assert!("testpay01m".parse::<Mid>().is_ok());
        assert!("TESTPAY01M".parse::<Mid>().is_err());
        assert!("testpay01m01082502061700416194".parse::<Tid>().is_ok());
        assert!("testpay01m0108250206170041619".parse::<Tid>().is_err());
    }

    #[test]
    fn card_companies_resolve_by_code_and_name() {
        assert_eq!(card_company("07").unwrap().name, "현대");
        assert!(card_company_by_name("비씨카드").unwrap().isp);
        assert!(card_company_by_name("KB국민카드").unwrap().isp);
        assert!(!card_company_by_name("삼성").unwrap().isp);
        assert!(card_company_by_name("").is_none());
    }
}

/// The lifecycle of a payment, stored as its `as_str` text: a stored value that is none of these is
/// an error naming it when the row is read, never a silent fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, sea_orm::EnumIter, sea_orm::DeriveActiveEnum)]
#[sea_orm(
    rs_type = "String",
    db_type = "String(sea_orm::sea_query::StringLen::None)"
)]
pub enum PaymentStatus {
    /// Created; waiting for the shopper to pay.
    #[sea_orm(string_value = "ready")]
    Ready,
    /// The shopper came back authenticated; paydesk is asking Innopay to approve.
    #[sea_orm(string_value = "approving")]
    Approving,
    #[sea_orm(string_value = "paid")]
    Paid,
    /// Declined, or refused by paydesk's checks. Final.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// Innopay may or may not have approved; the reconciler finds out.
    #[sea_orm(string_value = "unknown")]
    Unknown,
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    #[sea_orm(string_value = "partially_cancelled")]
    PartiallyCancelled,
    /// The shopper did not pay in time. Final.
    #[sea_orm(string_value = "expired")]
    Expired,
    /// A virtual account was issued; the money arrives when the shopper deposits it.
    #[sea_orm(string_value = "awaiting_deposit")]
    AwaitingDeposit,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 9] = [
        PaymentStatus::Ready,
        PaymentStatus::Approving,
        PaymentStatus::Paid,
        PaymentStatus::Failed,
        PaymentStatus::Unknown,
        PaymentStatus::Cancelled,
        PaymentStatus::PartiallyCancelled,
        PaymentStatus::Expired,
        PaymentStatus::AwaitingDeposit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Ready => "ready",
            PaymentStatus::Approving => "approving",
            PaymentStatus::Paid => "paid",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Unknown => "unknown",
            PaymentStatus::Cancelled => "cancelled",
            PaymentStatus::PartiallyCancelled => "partially_cancelled",
            PaymentStatus::Expired => "expired",
            PaymentStatus::AwaitingDeposit => "awaiting_deposit",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// The one table of allowed changes: the statuses a payment in `self` may become. Staying in
    /// the same status is a change too (a cancel reserved or released, a window return recorded, a
    /// net-cancel retried) where listed. `Store::transition` refuses anything else.
    pub fn may_become(self) -> &'static [PaymentStatus] {
        use PaymentStatus::*;
        match self {
            // The return claims it, a tokenless return is recorded, a mismatch or expiry ends it.
            Ready => &[Ready, Approving, Failed, Expired],
            // Innopay's answer: approved (or a virtual account issued), declined (payable again
            // while the shopper may try another card), unknown (or a net-cancel begun), not sent,
            // or already cancelled there.
            Approving => &[Paid, AwaitingDeposit, Failed, Unknown, Ready, Cancelled],
            // The reconciler's inquiry, a net-cancel's retries and its outcome.
            Unknown => &[Paid, AwaitingDeposit, Failed, Unknown, Cancelled],
            // The deposit confirmed, the deadline passed (the account closed), the account closed
            // by a cancel; a close reserved or released, a deposit flagged.
            AwaitingDeposit => &[AwaitingDeposit, Paid, Expired, Cancelled],
            // A cancel reserved or released, then recorded.
            Paid => &[Paid, PartiallyCancelled, Cancelled],
            PartiallyCancelled => &[PartiallyCancelled, Cancelled],
            Failed | Cancelled | Expired => &[],
        }
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
