//! Korean banks by their KFTC three-digit code: the one list virtual accounts, refund accounts and the
//! sandbox's bank choice read from. Innopay may write a code in its two-digit form (`04` for `004`,
//! graded C in `innopay-facts.md`), so both are read; paydesk always writes three digits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::InvalidValue;

/// A bank Korean payment gateways take for virtual accounts and refunds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bank {
    /// The KFTC code, three digits.
    pub code: &'static str,
    /// The Korean name shoppers know it by.
    pub name: &'static str,
}

/// The banks, in the order the payment window lists them.
pub const BANKS: [Bank; 21] = [
    Bank {
        code: "004",
        name: "KB국민은행",
    },
    Bank {
        code: "088",
        name: "신한은행",
    },
    Bank {
        code: "020",
        name: "우리은행",
    },
    Bank {
        code: "081",
        name: "하나은행",
    },
    Bank {
        code: "011",
        name: "NH농협은행",
    },
    Bank {
        code: "003",
        name: "IBK기업은행",
    },
    Bank {
        code: "090",
        name: "카카오뱅크",
    },
    Bank {
        code: "089",
        name: "케이뱅크",
    },
    Bank {
        code: "092",
        name: "토스뱅크",
    },
    Bank {
        code: "071",
        name: "우체국",
    },
    Bank {
        code: "023",
        name: "SC제일은행",
    },
    Bank {
        code: "032",
        name: "부산은행",
    },
    Bank {
        code: "031",
        name: "대구은행",
    },
    Bank {
        code: "034",
        name: "광주은행",
    },
    Bank {
        code: "037",
        name: "전북은행",
    },
    Bank {
        code: "039",
        name: "경남은행",
    },
    Bank {
        code: "035",
        name: "제주은행",
    },
    Bank {
        code: "045",
        name: "새마을금고",
    },
    Bank {
        code: "048",
        name: "신협",
    },
    Bank {
        code: "007",
        name: "수협은행",
    },
    Bank {
        code: "002",
        name: "KDB산업은행",
    },
];

/// A code of one of `BANKS`, read from its three-digit or two-digit form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct BankCode(&'static str);

/// By hand: serde's derive would borrow the `&'static str` from the input.
impl<'de> Deserialize<'de> for BankCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl BankCode {
    pub fn as_str(self) -> &'static str {
        self.0
    }

    pub fn bank(self) -> &'static Bank {
        BANKS
            .iter()
            .find(|b| b.code == self.0)
            .expect("a BankCode is always one of BANKS")
    }

    pub fn name(self) -> &'static str {
        self.bank().name
    }

    /// The bank a name means, as gateways write it: "KB국민은행", "국민은행" and "국민" are one.
    pub fn from_name(name: &str) -> Option<Self> {
        fn core(name: &str) -> String {
            name.chars()
                .filter(|c| !c.is_ascii_alphabetic() && !c.is_whitespace())
                .collect::<String>()
                .trim_end_matches("은행")
                .to_string()
        }
        let wanted = core(name);
        (!wanted.is_empty())
            .then(|| BANKS.iter().find(|b| core(b.name) == wanted))
            .flatten()
            .map(|b| BankCode(b.code))
    }
}

impl FromStr for BankCode {
    type Err = InvalidValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let three = match s.len() {
            2 => format!("0{s}"),
            _ => s.to_string(),
        };
        BANKS
            .iter()
            .find(|b| b.code == three)
            .map(|b| BankCode(b.code))
            .ok_or_else(|| {
                InvalidValue(format!(
                    "a bank code of the list in the API reference (three digits, e.g. 004 for \
                     KB국민은행), got {s:?}"
                ))
            })
    }
}

impl From<BankCode> for String {
    fn from(code: BankCode) -> String {
        code.0.to_string()
    }
}

impl fmt::Display for BankCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_three_digits_with_names() {
        let mut seen = std::collections::HashSet::new();
        for bank in BANKS {
            assert!(seen.insert(bank.code), "{} twice", bank.code);
            assert!(bank.code.len() == 3 && bank.code.bytes().all(|b| b.is_ascii_digit()));
            assert!(!bank.name.is_empty());
        }
    }

    #[test]
    fn both_forms_read_and_unknown_codes_are_refused() {
        assert_eq!("004".parse::<BankCode>().unwrap().name(), "KB국민은행");
        assert_eq!("04".parse::<BankCode>().unwrap().as_str(), "004");
        assert_eq!(" 088".parse::<BankCode>().unwrap().name(), "신한은행");
        assert!("999".parse::<BankCode>().is_err());
        assert!("4".parse::<BankCode>().is_err());
        assert!("".parse::<BankCode>().is_err());
    }

    #[test]
    fn names_resolve_with_or_without_prefix_and_suffix() {
        assert_eq!(BankCode::from_name("KB국민은행").unwrap().as_str(), "004");
        assert_eq!(BankCode::from_name("국민은행").unwrap().as_str(), "004");
        assert_eq!(BankCode::from_name("농협").unwrap().as_str(), "011");
        assert_eq!(BankCode::from_name(" 신한 ").unwrap().as_str(), "088");
        assert_eq!(BankCode::from_name("우체국").unwrap().as_str(), "071");
        assert!(BankCode::from_name("은행").is_none());
        assert!(BankCode::from_name("어딘가은행").is_none());
    }
}
