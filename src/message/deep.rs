//! Messages nested as deep as a server stores them (thousands of levels):
//! the recursive walks over their JSON run on a stack that grows on the
//! heap when it runs low, and dropping one takes no recursion at all.

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
