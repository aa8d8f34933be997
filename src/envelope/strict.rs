//! A strict reading of JSON that arrives from outside: one pass over the bytes, building the
//! value as it goes, that refuses what a plain parser lets through or chokes on:
//! a key given twice in one object (RFC 8259 4: names SHOULD be unique; a parser that keeps
//! the last one lets `{"object_marking_refs": [RED], "object_marking_refs": [GREEN]}` read as
//! GREEN), nesting deeper than a bound, and strings longer than a bound. Every refusal names
//! where, as a JSON pointer. Pure.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The bounds of a strict reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLimits {
    /// How deeply arrays and objects may nest.
    pub max_depth: usize,
    /// The longest string (and object key), in bytes.
    pub max_string_bytes: usize,
}

impl Default for JsonLimits {
    fn default() -> Self {
        JsonLimits {
            max_depth: 64,
            max_string_bytes: 1 << 20,
        }
    }
}

/// Why JSON was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrictError {
    /// Not JSON at all.
    #[error("not JSON: {0}")]
    Syntax(String),
    /// A key appears twice in one object.
    #[error("{pointer}: the key `{key}` appears twice in one object")]
    DuplicateKey {
        /// The object.
        pointer: String,
        /// The key.
        key: String,
    },
    /// Nesting deeper than the bound.
    #[error("{pointer}: nested deeper than {max} levels")]
    TooDeep {
        /// Where the bound was passed.
        pointer: String,
        /// The bound.
        max: usize,
    },
    /// A string longer than the bound.
    #[error("{pointer}: a string of more than {max} bytes")]
    StringTooLong {
        /// The string's place.
        pointer: String,
        /// The bound.
        max: usize,
    },
}

/// Reads `bytes` strictly; `Ok` when it is one JSON value within `limits`, with no key
/// twice in any object.
pub fn check(bytes: &[u8], limits: JsonLimits) -> Result<(), StrictError> {
    read(bytes, limits).map(drop)
}

/// Reads `bytes` strictly into the value they hold: one pass, the checks of [`check`] made
/// as the value is built (no second parse of what was checked).
pub fn read(bytes: &[u8], limits: JsonLimits) -> Result<Value, StrictError> {
    let mut problem = None;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut path = Vec::new();
    let seed = Walk {
        limits,
        path: &mut path,
        problem: &mut problem,
    };
    let outcome = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    match (problem, outcome) {
        (Some(p), _) => Err(p),
        (None, Err(e)) => Err(StrictError::Syntax(e.to_string())),
        (None, Ok(v)) => Ok(v),
    }
}

/// One step of the way to a value: an array index or an object key (borrowed from the
/// input unless it holds escapes). The way is spelled out as a pointer only for a refusal.
enum Step<'de> {
    Index(usize),
    Key(Cow<'de, str>),
}

/// One value being walked, with the way to it.
struct Walk<'a, 'de> {
    limits: JsonLimits,
    path: &'a mut Vec<Step<'de>>,
    problem: &'a mut Option<StrictError>,
}

impl<'de> Walk<'_, 'de> {
    fn pointer(&self) -> String {
        self.path
            .iter()
            .map(|t| match t {
                Step::Index(i) => format!("/{i}"),
                Step::Key(k) => format!("/{}", crate::schema::escape_token(k)),
            })
            .collect()
    }

    /// The walk of a value one step further down.
    fn down(&mut self) -> Walk<'_, 'de> {
        Walk {
            limits: self.limits,
            path: self.path,
            problem: self.problem,
        }
    }

    /// Records the first problem and stops the walk.
    fn fail<E: serde::de::Error>(&mut self, p: StrictError) -> E {
        let text = p.to_string();
        if self.problem.is_none() {
            *self.problem = Some(p);
        }
        E::custom(text)
    }

    fn check_len<E: serde::de::Error>(&mut self, s: &str) -> Result<(), E> {
        if s.len() > self.limits.max_string_bytes {
            let pointer = self.pointer();
            return Err(self.fail(StrictError::StringTooLong {
                pointer,
                max: self.limits.max_string_bytes,
            }));
        }
        Ok(())
    }

    fn enter<E: serde::de::Error>(&mut self) -> Result<(), E> {
        if self.path.len() >= self.limits.max_depth {
            let pointer = self.pointer();
            return Err(self.fail(StrictError::TooDeep {
                pointer,
                max: self.limits.max_depth,
            }));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_, 'de> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, 'de> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        // JSON text holds no NaN or infinity: a number serde_json read is finite.
        Ok(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_str<E: serde::de::Error>(mut self, s: &str) -> Result<Value, E> {
        self.check_len(s)?;
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E: serde::de::Error>(mut self, s: String) -> Result<Value, E> {
        self.check_len(&s)?;
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
        self.enter()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            self.path.push(Step::Index(items.len()));
            let next = seq.next_element_seed(self.down());
            self.path.pop();
            match next? {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Value, A::Error> {
        self.enter()?;
        let mut object = Map::new();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            self.check_len(&key)?;
            // One look into the object: where the key goes, or that it is there already.
            let serde_json::map::Entry::Vacant(slot) = object.entry(key.as_ref()) else {
                let pointer = self.pointer();
                return Err(self.fail(StrictError::DuplicateKey {
                    pointer: if pointer.is_empty() {
                        "/".into()
                    } else {
                        pointer
                    },
                    key: key.into_owned(),
                }));
            };
            self.path.push(Step::Key(key));
            let value = map.next_value_seed(self.down());
            self.path.pop();
            slot.insert(value?);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_depth_and_length_are_refused_where_they_are() {
        let ok = JsonLimits::default();
        assert_eq!(check(br#"{"a": [1, {"b": "c"}], "d": null}"#, ok), Ok(()));
        assert_eq!(
            check(br#"{"objects": [{"id": 1, "object_marking_refs": ["r"], "object_marking_refs": ["g"]}]}"#, ok),
            Err(StrictError::DuplicateKey {
                pointer: "/objects/0".into(),
                key: "object_marking_refs".into()
            })
        );
        assert!(matches!(
            check(br#"{"a": 1, "a": 1}"#, ok),
            Err(StrictError::DuplicateKey { pointer, .. }) if pointer == "/"
        ));
        // Escapes that spell the same key are the same key.
        assert!(check(br#"{"a": 1, "\u0061": 2}"#, ok).is_err());
        let shallow = JsonLimits { max_depth: 3, ..ok };
        assert_eq!(check(b"[[[1]]]", shallow), Ok(()));
        assert_eq!(
            check(b"[[[[1]]]]", shallow),
            Err(StrictError::TooDeep {
                pointer: "/0/0/0".into(),
                max: 3
            })
        );
        let short = JsonLimits {
            max_string_bytes: 4,
            ..ok
        };
        assert!(matches!(
            check(br#"{"k": ["abcde"]}"#, short),
            Err(StrictError::StringTooLong { pointer, .. }) if pointer == "/k/0"
        ));
        assert!(matches!(
            check(b"{\"a\":1} x", ok),
            Err(StrictError::Syntax(_))
        ));
        assert!(matches!(check(b"", ok), Err(StrictError::Syntax(_))));
    }

    #[test]
    fn what_is_read_is_the_value_serde_json_reads() {
        let ok = JsonLimits::default();
        for text in [
            r#"{"n": [0, -1, 18446744073709551615, -9223372036854775808, 1.5, -2e-3, 1E300]}"#,
            r#"{"s": "a\u00e9\ud83d\ude00\n\"", "\u006b": {"x": [true, false, null, {}]}}"#,
            r#"[[], "", 3]"#,
            "  7 ",
        ] {
            let expected: Value =
                serde_json::from_slice(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(read(text.as_bytes(), ok), Ok(expected), "{text}");
        }
        // What serde_json refuses is refused.
        assert!(matches!(read(b"[1E400]", ok), Err(StrictError::Syntax(_))));
    }

    #[test]
    fn a_duplicate_is_found_in_objects_of_any_size() {
        let ok = JsonLimits::default();
        let object = |keys: &[String]| {
            let body: Vec<String> = keys.iter().map(|k| format!("\"{k}\": 1")).collect();
            format!("{{\"o\": [{{{}}}]}}", body.join(", "))
        };
        // Around the size of a B-tree node (11 keys), and well past it.
        for n in [1, 11, 12, 13, 48] {
            let keys: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
            assert_eq!(check(object(&keys).as_bytes(), ok), Ok(()), "{n} keys");
            // The first key again, the last key again, and (escaped) a middle one again.
            let middle = format!("\\u006b{}", n / 2);
            for again in [keys[0].clone(), keys[n - 1].clone(), middle] {
                let mut twice = keys.clone();
                twice.push(again.clone());
                assert!(
                    matches!(
                        check(object(&twice).as_bytes(), ok),
                        Err(StrictError::DuplicateKey { pointer, .. }) if pointer == "/o/0"
                    ),
                    "{n} keys, then `{again}` again"
                );
            }
        }
    }
}
