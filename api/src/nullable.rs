//! PATCH semantics for nullable fields: absent leaves the value alone,
//! `null` clears it, a value sets it.

use serde::{Deserialize, Deserializer};

/// Use with `#[serde(default, deserialize_with = "nullable::double_option")]`.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
