//! rig's own data in LangChain's open fields (`additional_kwargs.rig`,
//! `extras.rig`): writing and reading it, rig's values to and from JSON,
//! and the error a conversion fails with.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// The namespace of rig's own data in LangChain's open fields.
pub(super) const RIG: &str = "rig";

/// A JSON object: a message's data, a block, rig's part of either.
pub(super) type Fields = Map<String, Value>;

/// A message rig cannot take, or a row that does not read as rig's.
pub(super) fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidMessage(reason.into())
}

/// `rest` as `additional_kwargs.rig` of a message's data, when there is
/// any (the data is ours, so it has no `additional_kwargs` yet).
pub(super) fn put_rig(dict: &mut Fields, rest: Fields) {
    if !rest.is_empty() {
        dict.insert("additional_kwargs".into(), json!({RIG: rest}));
    }
}

/// `block` with `rest` as `extras.rig`, when there is any.
pub(super) fn with_rig(mut block: Value, rest: Fields) -> Value {
    if !rest.is_empty()
        && let Value::Object(fields) = &mut block
    {
        fields.insert("extras".into(), json!({RIG: rest}));
    }
    block
}

/// A rig value's serde form, which is how rig's own fields are kept.
pub(super) fn to_value(value: &impl Serialize) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| invalid(format!("a rig value did not serialize: {e}")))
}

/// A rig value read back from its serde form; `what` names it in the error.
pub(super) fn from_value<T: DeserializeOwned>(value: Value, what: &str) -> Result<T> {
    serde_json::from_value(value)
        .map_err(|e| invalid(format!("{what} does not read as rig's: {e}")))
}

/// `value`'s serde form without `field`, and that field.
pub(super) fn take_field(value: &impl Serialize, field: &str) -> Result<(Value, Fields)> {
    let Value::Object(mut fields) = to_value(value)? else {
        return Err(invalid("a rig block is not an object"));
    };
    let taken = fields.remove(field).unwrap_or(Value::Null);
    Ok((taken, fields))
}

/// `extras.rig` of a block (or `additional_kwargs.rig` of a message's
/// data), empty when absent.
pub(super) fn rig_of(fields: &Fields, field: &str) -> Fields {
    fields
        .get(field)
        .and_then(|f| f.get(RIG))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The string at `key`, if it is one.
pub(super) fn str_of<'a>(fields: &'a Fields, key: &str) -> Option<&'a str> {
    fields.get(key).and_then(Value::as_str)
}
