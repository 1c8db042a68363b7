//! `GET /pipelines/{name}/setup/files/{id}`: one file of a pipeline's setup kit, as a
//! download (the Set up page links each file here, so it works without JavaScript).

use super::access::Caller;
use super::extract::ApiPath;
use super::{ApiError, AppState};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use shipgate_pipeline::access::Action;

pub fn routes() -> Router<AppState> {
    Router::new().route("/pipelines/{name}/setup/files/{id}", get(download))
}

async fn download(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((name, id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    caller.require(Action::Administer)?;
    let setup = state
        .ops()
        .setup(&caller.acting(), &name, &super::api::kit_settings(&state))
        .await?;
    let file = setup
        .kit
        .files
        .into_iter()
        .find(|f| f.id == id.as_str())
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "the setup kit of `{name}` has no file `{id}`; the Set up page lists them"
            ))
        })?;
    let file_name: String = file
        .path
        .rsplit('/')
        .next()
        .unwrap_or("file")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
        .map_err(|e| ApiError::Internal(format!("download header: {e}")))?;
    let media_type = HeaderValue::from_str(&file.media_type)
        .unwrap_or(HeaderValue::from_static("text/plain; charset=utf-8"));
    Ok((
        [
            (header::CONTENT_TYPE, media_type),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        file.content,
    )
        .into_response())
}
