//! Filters on custom fields in a list's query string: `cf.<key>=value`, or
//! `cf[<key>]=value` (the `deepObject` form the contract declares). They
//! are taken out of the query before the list's own parameters are read,
//! and checked against the definitions by the handler ([`CustomFilters`]
//! holds them as sent).

use std::future::{ready, Ready};

use actix_web::{dev::Payload, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use utoipa::{
    openapi::{
        path::{Parameter, ParameterBuilder, ParameterIn, ParameterStyle},
        schema::{ObjectBuilder, Schema, Type},
        Required,
    },
    IntoParams,
};

use crate::error::ApiError;

/// The key a query parameter filters on, if it is a custom field filter.
pub fn custom_key(name: &str) -> Option<&str> {
    name.strip_prefix("cf.")
        .or_else(|| name.strip_prefix("cf[").and_then(|k| k.strip_suffix(']')))
}

/// A list's query `T`, and its custom field filters (key, value) apart.
pub struct FilteredQuery<T> {
    pub query: T,
    pub custom: Vec<(String, String)>,
}

impl<T: DeserializeOwned> FromRequest for FilteredQuery<T> {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(read(req.query_string()).map_err(Into::into))
    }
}

fn read<T: DeserializeOwned>(query: &str) -> Result<FilteredQuery<T>, ApiError> {
    let invalid =
        || ApiError::BadRequest("The query parameters are invalid; see this operation's parameters.".to_owned());
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(|_| invalid())?;
    let (custom, own): (Vec<_>, Vec<_>) = pairs.into_iter().partition(|(name, _)| custom_key(name).is_some());
    let own = serde_urlencoded::to_string(&own).map_err(|_| invalid())?;
    Ok(FilteredQuery {
        query: serde_urlencoded::from_str(&own).map_err(|_| invalid())?,
        custom: custom
            .into_iter()
            .map(|(name, value)| (custom_key(&name).unwrap_or_default().to_owned(), value))
            .collect(),
    })
}

/// The `cf` parameter of a list or an export, for the contract.
pub struct CustomFilterParams;

impl IntoParams for CustomFilterParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let values = ObjectBuilder::new().additional_properties(Some(Schema::Object(
            ObjectBuilder::new().schema_type(Type::String).build(),
        )));
        vec![ParameterBuilder::new()
            .name("cf")
            .parameter_in(ParameterIn::Query)
            .required(Required::False)
            .style(Some(ParameterStyle::DeepObject))
            .explode(Some(true))
            .schema(Some(values))
            .description(Some(
                "Filters on custom fields (`GET /custom-fields`): `cf[<key>]=value`, or `cf.<key>=value`; \
                 each must match. The value is read as the field's type (a multi_select matches a record that \
                 has the option); text and options compare case-insensitively. An unknown key or a value of the \
                 wrong type is 400.",
            ))
            .build()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Own {
        limit: Option<u32>,
    }

    #[test]
    fn custom_filters_come_apart_from_the_list_parameters() {
        let filtered: FilteredQuery<Own> = read("limit=5&cf.region=EMEA&cf%5Bseats%5D=12").unwrap();
        assert_eq!(filtered.query.limit, Some(5));
        assert_eq!(
            filtered.custom,
            [
                ("region".to_owned(), "EMEA".to_owned()),
                ("seats".to_owned(), "12".to_owned())
            ]
        );
        assert!(read::<Own>("other=1").is_err());
        assert_eq!(custom_key("cf"), None);
    }
}
