//! Extractors that answer a malformed request the way every other refusal is answered: a
//! JSON [`ApiError`] that names the problem, not axum's plain-text rejection.

use super::ApiError;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// Path parameters, parsed once into their types (`ApiPath<RunId>`).
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
    }
}

/// Query parameters, into a struct that refuses unknown ones by name
/// (`#[serde(deny_unknown_fields)]`).
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(ApiError::BadRequest(format!(
                "query parameters: {}",
                rejection
                    .body_text()
                    .trim_start_matches("Failed to deserialize query string: ")
            ))),
        }
    }
}

/// An optional number from a query parameter; empty means absent (a form sends `before=`).
pub fn number<T: std::str::FromStr>(key: &str, value: Option<&str>) -> Result<Option<T>, ApiError> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<T>().map_err(|_| {
                ApiError::BadRequest(format!(
                    "query parameter `{key}`: `{v}` is not a valid number"
                ))
            })
        })
        .transpose()
}

/// An optional text query parameter; empty means absent.
pub fn text(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}
