//! Server functions for linking pipelines to AWS from the dashboard, for admins: what AWS
//! holds in a region (the form's choices), the pipeline an edit starts from, and delete.
//! Saving the form is a plain form post to the server's own door (it re-renders the page
//! with the errors beside their fields when a save is refused), so it is not here.

use crate::access::Me;
#[cfg(feature = "ssr")]
use crate::access::{client_ip, require};
#[cfg(feature = "ssr")]
use crate::data::{Refused, dashboard, refused};
use leptos::prelude::*;
use shipgate_pipeline::FieldError;
#[cfg(feature = "ssr")]
use shipgate_pipeline::access::Action;
use shipgate_pipeline::access::{Principal, PrincipalKind};
use shipgate_pipeline::discovery::{EcrDiscovery, EcsDiscovery, GitHubDiscovery, Lookup};
use shipgate_pipeline::read::PipelineRecord;

/// A pipeline form the server refused to save, for the page it renders again: what was
/// sent, each field's error, and the refusal in one sentence. The server's form door puts it
/// in context for that one render; otherwise the page reads its form from the URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineSubmission {
    pub pairs: Vec<(String, String)>,
    pub errors: Vec<FieldError>,
    pub message: String,
}

/// Whether the person may administer (draws the New, Edit and Delete controls; the server
/// functions and the form door are what refuse everyone else).
pub fn may_administer(me: &Me) -> bool {
    Principal {
        id: String::new(),
        name: me.name.clone(),
        kind: PrincipalKind::User,
        grants: me.grants.clone(),
        via: None,
    }
    .may(&shipgate_pipeline::access::Action::Administer)
}

/// What a lookup in AWS answered: found, or why not (AWS's refusal, an invalid region), as
/// data for the page to show beside the field. Only a refusal of the caller is an error.
#[cfg(feature = "ssr")]
fn looked_up<T>(result: Result<T, Refused>) -> Result<Lookup<T>, ServerFnError> {
    match result {
        Ok(found) => Ok(Lookup::Found(found)),
        Err(Refused::Other(why)) => Ok(Lookup::Failed(why)),
        Err(forbidden) => Err(refused(forbidden)),
    }
}

/// The ECS clusters of `region`, each with its services and their containers, as the role
/// `role_arn` sees them when one is given.
#[server]
pub async fn discover_ecs(
    region: String,
    role_arn: Option<String>,
) -> Result<Lookup<EcsDiscovery>, ServerFnError> {
    let by = require(Action::Administer)?;
    looked_up(dashboard()?.discover_ecs(region, role_arn, by).await)
}

/// The GitHub repositories the token can see, or nothing when no token is configured.
#[server]
pub async fn discover_github() -> Result<Option<Lookup<GitHubDiscovery>>, ServerFnError> {
    let by = require(Action::Administer)?;
    looked_up(dashboard()?.discover_github(by).await).map(|lookup| match lookup {
        Lookup::Found(None) => None,
        Lookup::Found(Some(found)) => Some(Lookup::Found(found)),
        Lookup::Failed(why) => Some(Lookup::Failed(why)),
    })
}

/// The ECR repositories of `region`.
#[server]
pub async fn discover_ecr(region: String) -> Result<Lookup<EcrDiscovery>, ServerFnError> {
    let by = require(Action::Administer)?;
    looked_up(dashboard()?.discover_ecr(region, by).await)
}

/// What the pipeline form starts from: the pipeline `name`, whole (admins read notifier
/// URLs too), or nothing for a new one. Refused unless the caller may administer.
#[server]
pub async fn editable_pipeline(
    name: Option<String>,
) -> Result<Option<PipelineRecord>, ServerFnError> {
    require(Action::Administer)?;
    match name {
        None => Ok(None),
        Some(name) => dashboard()?
            .pipeline(name)
            .await
            .map_err(ServerFnError::new),
    }
}

/// Deletes a pipeline's definition, and goes back to the pipelines list. Its runs stay, as
/// history.
#[server]
pub async fn delete_pipeline(name: String) -> Result<(), ServerFnError> {
    let by = require(Action::Administer)?;
    dashboard()?
        .delete_pipeline(name.clone(), by, client_ip())
        .await
        .map_err(refused)?;
    leptos_axum::redirect(&format!("/pipelines?deleted={name}"));
    Ok(())
}
