//! `Timestamp`: how every time the API answers is written, in answers and in webhook bodies alike.
//! Always RFC 3339 in UTC with exactly six fractional digits, `2026-01-02T03:04:05.123456Z`,
//! whatever offset the value carried (SQLite keeps the offset it was stored with, Innopay's times
//! are KST wall time) and whichever database it came from: microseconds are what PostgreSQL keeps,
//! finer digits (SQLite, a fresh clock reading) are cut off, so one instant prints one string. Views
//! hold a `Timestamp` instead of an `OffsetDateTime`; requests still take `OffsetDateTime` and so
//! accept any offset. Shopper pages show KST themselves and do not use this.

use std::borrow::Cow;
use std::fmt;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// What the OpenAPI document says about every time in an answer.
const DESCRIPTION: &str = "RFC 3339, UTC (`Z`), always with six fractional digits (microseconds): \
`2026-01-02T03:04:05.123456Z`. The same instant is always the same string.";

/// The documented example, in the format.
const EXAMPLE: &str = "2026-01-02T03:04:05.123456Z";

/// The format as a schema `pattern`, so generated clients and Schemathesis check it too.
pub const PATTERN: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$";

/// A point in time as the API writes it (see the module comment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// The instant, in UTC, to the microsecond.
    pub fn get(self) -> OffsetDateTime {
        self.0
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(t: OffsetDateTime) -> Self {
        let t = t.to_offset(UtcOffset::UTC);
        let micros = t.nanosecond() / 1_000 * 1_000;
        Timestamp(t.replace_nanosecond(micros).unwrap_or(t))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        );
        let text = self.0.format(format).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl Type for Timestamp {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "Timestamp".into()
    }

    /// Inline, not a named schema: a field's own description would wrap a `$ref` in `allOf`, which
    /// generators such as openapi-python-client refuse for anything but objects. The `pattern`
    /// carries the format wherever a field's description replaces this one.
    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some(DESCRIPTION),
            example: Some(Value::String(EXAMPLE.into())),
            pattern: Some(PATTERN.to_string()),
            ..MetaSchema::new_with_format("string", "date-time")
        }))
    }

    fn register(_: &mut Registry) {}

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ToJSON for Timestamp {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.to_string()))
    }
}

/// Answers paydesk stored before sending (webhook bodies, idempotent replays) are read back as
/// views: any RFC 3339 offset is accepted, so bodies stored before this format read back in it.
impl ParseFromJSON for Timestamp {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(text) => Ok(OffsetDateTime::parse(&text, &Rfc3339)?.into()),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn kst_and_any_offset_are_written_in_utc_with_z() {
        let kst = datetime!(2026-03-01 09:00:00 +09:00);
        assert_eq!(
            Timestamp::from(kst).to_string(),
            "2026-03-01T00:00:00.000000Z"
        );
        let west = datetime!(2026-02-28 19:30:00.5 -04:30);
        assert_eq!(
            Timestamp::from(west).to_string(),
            "2026-03-01T00:00:00.500000Z"
        );
    }

    #[test]
    fn the_same_instant_is_the_same_string_at_any_precision_or_offset() {
        let nanos = datetime!(2026-12-03 05:45:05.123456789 UTC);
        let micros = datetime!(2026-12-03 05:45:05.123456 UTC);
        let kst = datetime!(2026-12-03 14:45:05.1234569 +09:00);
        let written: Vec<_> = [nanos, micros, kst]
            .into_iter()
            .map(|t| Timestamp::from(t).to_json().unwrap())
            .collect();
        assert!(written.iter().all(|w| w == "2026-12-03T05:45:05.123456Z"));
        assert_eq!(Timestamp::from(nanos), Timestamp::from(kst));
    }

    #[test]
    fn stored_bodies_read_back_in_the_format() {
        let old = Value::String("2026-12-03T14:49:55+09:00".into());
        let read = Timestamp::parse_from_json(Some(old)).unwrap();
        assert_eq!(read.to_string(), "2026-12-03T05:49:55.000000Z");
        let again = Timestamp::parse_from_json(read.to_json()).unwrap();
        assert_eq!(again, read);
        assert!(Timestamp::parse_from_json(Some(Value::from(1))).is_err());
    }

    #[test]
    fn the_documented_example_is_in_the_format() {
        let example = OffsetDateTime::parse(EXAMPLE, &Rfc3339).unwrap();
        assert_eq!(Timestamp::from(example).to_string(), EXAMPLE);
        assert!(DESCRIPTION.contains("RFC 3339, UTC (`Z`)"));
    }
}
