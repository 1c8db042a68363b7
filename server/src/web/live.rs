//! Live updates for the dashboard over server-sent events. Each stream looks at a cheap
//! fingerprint of what its page shows (a run: its version, deploy progress, ECS events,
//! decisions, brief and messages; the runs list: the newest change) once a second and says
//! `changed` when it moves; the page then fetches its data again. Reading the database
//! rather than an in-process signal means a change made by any replica reaches every page.
//! A page subscribes with the fingerprint it was drawn from (`?seen=`), so a change between
//! the server's render and the subscription is said at once, not lost.

use super::ApiError;
use super::AppState;
use super::access::Caller;
use super::extract::{ApiPath, ApiQuery};
use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::Stream;
use serde::Deserialize;
use shipgate_pipeline::RunId;
use shipgate_pipeline::access::Action;
use std::time::Duration;

/// How often a stream looks for a change.
const LOOK_EVERY: Duration = Duration::from_secs(1);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/events/runs", get(runs_list))
        .route("/events/runs/{id}", get(one_run))
}

/// `?seen=<fingerprint>`: what the subscribing page shows.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LiveQuery {
    seen: Option<String>,
}

async fn runs_list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<LiveQuery>,
) -> Result<Response, ApiError> {
    caller.require(Action::View)?;
    Ok(stream(state, None, query.seen).into_response())
}

async fn one_run(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<RunId>,
    ApiQuery(query): ApiQuery<LiveQuery>,
) -> Result<Response, ApiError> {
    caller.require(Action::View)?;
    if state.store.run_fingerprint(id.get()).await?.is_none() {
        return Err(ApiError::NotFound(format!("run {id} does not exist")));
    }
    Ok(stream(state, Some(id.get()), query.seen).into_response())
}

/// First `ready` with the fingerprint, or `changed` if it is not the `seen` one; then
/// `changed` each time it moves. Ends when the server shuts down, so graceful shutdown does
/// not wait on open pages.
fn stream(
    state: AppState,
    run: Option<i64>,
    seen: Option<String>,
) -> Sse<impl Stream<Item = Result<Event, std::convert::Infallible>>> {
    let closing = state.closing.subscribe();
    let looks = futures::stream::unfold(
        (state, closing, seen, false),
        move |(state, mut closing, last, said)| async move {
            // The first look is at once; every later one a second after the one before.
            let mut wait = said;
            loop {
                if *closing.borrow() {
                    return None;
                }
                if wait {
                    tokio::select! {
                        () = tokio::time::sleep(LOOK_EVERY) => {}
                        _ = closing.changed() => return None,
                    }
                }
                wait = true;
                let Ok(Some(now)) = state.store.live_fingerprint(run).await else {
                    continue;
                };
                let event = match &last {
                    Some(seen) if *seen != now => "changed",
                    _ if !said => "ready",
                    _ => continue,
                };
                return Some((
                    Ok(Event::default().event(event).data(now.clone())),
                    (state, closing, Some(now), true),
                ));
            }
        },
    );
    Sse::new(looks).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
