//! Finds a JSON key given twice. serde keeps the last of them silently, so
//! `{"amount": 100, "amount": 1000000}` would be read differently by paydesk than by a proxy, a log
//! or a signature check upstream that keeps the first; `JsonBody` refuses such a body with the key's
//! path in `param`.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The dotted path (`buyer.name`, `items[2].id`) of the first key given twice, if any.
pub fn duplicate_key(bytes: &[u8]) -> Option<String> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match (Walk {
        path: String::new(),
    })
    .deserialize(&mut deserializer)
    {
        Err(e) => e.to_string().strip_prefix(MARK).map(|rest| {
            rest.split_once(" at line ")
                .map_or(rest, |(path, _)| path)
                .to_string()
        }),
        Ok(()) => None,
    }
}

/// Starts the error message that carries a duplicate's path (any other error is not ours to report).
const MARK: &str = "duplicate key: ";

/// Walks any JSON value, remembering where it is.
struct Walk {
    path: String,
}

impl<'de> DeserializeSeed<'de> for Walk {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while seq
            .next_element_seed(Walk {
                path: format!("{}[{index}]", self.path),
            })?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if !seen.insert(key) {
                return Err(de::Error::custom(format!("{MARK}{path}")));
            }
            map.next_value_seed(Walk { path })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::duplicate_key;

    #[test]
    fn the_first_key_given_twice_is_named_by_its_path() {
        assert_eq!(
            duplicate_key(br#"{"amount": 1, "amount": 2}"#).as_deref(),
            Some("amount")
        );
        assert_eq!(
            duplicate_key(br#"{"buyer": {"name": "a", "tel": "1", "name": "b"}}"#).as_deref(),
            Some("buyer.name")
        );
        assert_eq!(
            duplicate_key(br#"{"x": [{"a": 1}, {"a": 1, "a": 2}]}"#).as_deref(),
            Some("x[1].a")
        );
        // Escapes are compared as the keys they spell.
        assert_eq!(
            duplicate_key(br#"{"a": 1, "\u0061": 2}"#).as_deref(),
            Some("a")
        );
        assert_eq!(duplicate_key(br#"{"a": {"a": 1}, "b": [{"a": 1}]}"#), None);
        assert_eq!(duplicate_key(b"not json"), None);
        assert_eq!(duplicate_key(b""), None);
    }
}
