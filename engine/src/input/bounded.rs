//! A JSON value deserialized under a byte budget. YAML aliases replay what an anchor holds, so a small file
//! that aliases one large scalar many times would otherwise expand into gigabytes; the parser's own budgets
//! count events and aliases, not the bytes the copies cost. Every string byte and every node is charged
//! against one budget per document, sized from the document's own length: input without aliases never
//! meets it, input with them is capped at a small multiple of its size.

use std::cell::Cell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Charged per node on top of its text: a node costs memory even when it holds no text.
const NODE_COST: usize = 1;

/// The bytes a document of `len` bytes may expand to: twice its size, plus a floor for small documents
/// (text without aliases expands to at most its own size).
pub fn allowance(len: usize) -> usize {
    len.saturating_mul(2).saturating_add(16 << 20)
}

thread_local! {
    /// What the document being parsed on this thread may still expand to.
    static LEFT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Runs `parse` with a budget of `bytes`; values built inside through [`Bounded`] are charged against it.
pub fn with_budget<T>(bytes: usize, parse: impl FnOnce() -> T) -> T {
    let previous = LEFT.with(|left| left.replace(Some(bytes)));
    let result = parse();
    LEFT.with(|left| left.set(previous));
    result
}

fn charge<E: Error>(bytes: usize) -> Result<(), E> {
    LEFT.with(|left| match left.get() {
        None => Ok(()),
        Some(have) if have >= bytes => {
            left.set(Some(have - bytes));
            Ok(())
        }
        Some(_) => Err(E::custom(
            "the document expands to more than twice its size plus 16 MiB (YAML aliases repeating large values)",
        )),
    })
}

/// A [`Value`], charged against the thread's budget while it is built.
pub struct Bounded(pub Value);

impl<'de> serde::Deserialize<'de> for Bounded {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BoundedSeed.deserialize(deserializer).map(Bounded)
    }
}

/// Deserializes one bounded [`Value`].
pub struct BoundedSeed;

impl<'de> DeserializeSeed<'de> for BoundedSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(BoundedVisitor)
    }
}

struct BoundedVisitor;

impl<'de> Visitor<'de> for BoundedVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: Error>(self, v: bool) -> Result<Value, E> {
        charge(NODE_COST)?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<Value, E> {
        charge(NODE_COST)?;
        Ok(v.into())
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<Value, E> {
        charge(NODE_COST)?;
        Ok(v.into())
    }

    fn visit_f64<E: Error>(self, v: f64) -> Result<Value, E> {
        charge(NODE_COST)?;
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<Value, E> {
        charge(NODE_COST + v.len())?;
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: Error>(self, v: String) -> Result<Value, E> {
        charge(NODE_COST + v.len())?;
        Ok(Value::String(v))
    }

    fn visit_none<E: Error>(self) -> Result<Value, E> {
        charge(NODE_COST)?;
        Ok(Value::Null)
    }

    fn visit_unit<E: Error>(self) -> Result<Value, E> {
        charge(NODE_COST)?;
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        BoundedSeed.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        charge(NODE_COST)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(BoundedSeed)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        charge(NODE_COST)?;
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            charge(NODE_COST + key.len())?;
            let value = map.next_value_seed(BoundedSeed)?;
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_within_the_budget_build_and_beyond_it_fail() {
        let text = r#"{"a": ["xxxx", 1, true, null], "b": {"c": "yy"}}"#;
        let built = with_budget(1000, || serde_json::from_str::<Bounded>(text)).unwrap().0;
        assert_eq!(built, serde_json::from_str::<Value>(text).unwrap());
        let err = with_budget(10, || serde_json::from_str::<Bounded>(text)).err().unwrap();
        assert!(err.to_string().contains("expands to more than"), "{err}");
    }
}
