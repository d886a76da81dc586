//! Messages nested as deep as a server stores them (thousands of levels):
//! their JSON text is read and written without a recursion limit, the
//! recursive walks over their JSON run on a stack that grows on the heap
//! when it runs low, and dropping one takes no recursion at all.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Runs `f`, on a fresh stack segment if this one is nearly used up: call
/// it at each level of a recursive walk over JSON.
pub(super) fn grow<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(128 * 1024, 4 * 1024 * 1024, f)
}

/// `value.clone()`, at any depth.
pub(super) fn clone(value: &Value) -> Value {
    grow(|| match value {
        Value::Array(items) => Value::Array(items.iter().map(clone).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), clone(v))).collect())
        }
        other => other.clone(),
    })
}

/// Drops `value` without recursion: its children are taken apart first.
/// (A value without nested containers, the common case, is dropped as it is.)
pub(super) fn dismantle(value: Value) {
    let nested = |v: &Value| matches!(v, Value::Array(_) | Value::Object(_));
    let shallow = match &value {
        Value::Array(items) => !items.iter().any(nested),
        Value::Object(map) => !map.values().any(nested),
        _ => true,
    };
    if shallow {
        return;
    }
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::Array(items) => pending.extend(items),
            Value::Object(map) => pending.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

/// JSON text of any depth a server stores (or an export holds): no
/// recursion limit, and the stack grows on the heap as deep values need it.
pub(crate) fn parse_json(json: &[u8]) -> serde_json::Result<Value> {
    let mut reader = serde_json::Deserializer::from_slice(json);
    reader.disable_recursion_limit();
    Value::deserialize(serde_stacker::Deserializer::new(&mut reader))
        .and_then(|value| reader.end().map(|()| value))
}

/// `value` as compact JSON text, at any depth (see `parse_json`).
pub(crate) fn json_text(value: &impl Serialize) -> String {
    // Serializing maps of strings to JSON values cannot fail.
    let mut out = Vec::new();
    let mut writer = serde_json::Serializer::new(&mut out);
    let _ = value.serialize(serde_stacker::Serializer::new(&mut writer));
    String::from_utf8(out).unwrap_or_default()
}
