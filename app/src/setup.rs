//! Server functions for a pipeline's Set up page (admins): the setup kit with its last
//! Verify, running Verify, and the Pipelines page's Verify badges.

#[cfg(feature = "ssr")]
use crate::access::{client_ip, require};
#[cfg(feature = "ssr")]
use crate::data::{dashboard, refused};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
#[cfg(feature = "ssr")]
use shipgate_pipeline::access::Action;
use shipgate_pipeline::setup_kit::SetupKit;
use shipgate_pipeline::verify::VerifyStatus;

/// What the Set up page shows: the kit, generated from the pipeline and what its last
/// Verify learnt, and that Verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupView {
    pub pipeline: String,
    pub kit: SetupKit,
    pub verify: Option<VerifyStatus>,
}

/// The setup kit of pipeline `name` and its last Verify; `None` if there is no such pipeline.
#[server]
pub async fn get_setup(name: String) -> Result<Option<SetupView>, ServerFnError> {
    let by = require(Action::Administer)?;
    dashboard()?.setup(name, by).await.map_err(refused)
}

/// Runs Verify on pipeline `name`, then shows its Set up page with the result. Without
/// JavaScript the form posts here and the answer is a redirect, as with JavaScript.
#[server]
pub async fn verify_pipeline(name: String) -> Result<(), ServerFnError> {
    let by = require(Action::Administer)?;
    dashboard()?
        .verify(name.clone(), by, client_ip())
        .await
        .map_err(refused)?;
    leptos_axum::redirect(&format!("/pipelines/{name}/setup?verified=1#verify"));
    Ok(())
}

/// Each pipeline's problem count from its last Verify, and when it ran.
#[server]
pub async fn verify_problems() -> Result<Vec<(String, i64, i64)>, ServerFnError> {
    require(Action::View)?;
    Ok(dashboard()?
        .verify_problems()
        .await
        .map_err(ServerFnError::new)?
        .into_iter()
        .map(|(name, (problems, at))| (name, problems, at))
        .collect())
}
