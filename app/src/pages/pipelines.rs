//! Pipelines: the list, and one pipeline with its environments and recent runs.

use super::Missing;
use crate::access::who_am_i;
use crate::data::{get_pipeline, list_pipelines, list_runs};
use crate::format;
use crate::linking::may_administer;
use crate::setup::{VerifyPipeline, verify_problems};
use crate::widgets::{LoadError, Loading, RecoveredChip, StatusBadge};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use shipgate_pipeline::read::PipelineRecord;

/// Whether the caller may change pipelines: the New, Edit and Delete controls are drawn
/// for them only (the form and the server functions refuse everyone else).
async fn admin() -> bool {
    who_am_i()
        .await
        .ok()
        .flatten()
        .is_some_and(|me| may_administer(&me))
}

#[component]
pub fn PipelinesPage() -> impl IntoView {
    let pipelines = Resource::new(|| (), |_| list_pipelines());
    let checked = Resource::new(|| (), |_| verify_problems());
    let deleted = use_query_map()
        .read_untracked()
        .get("deleted")
        .filter(|d| !d.is_empty());
    view! {
        <Title text="Pipelines"/>
        <Suspense fallback=Loading>
            {move || {
                let deleted = deleted.clone();
                Suspend::new(async move {
                let admin = admin().await;
                let head = view! {
                    <div class="page-head">
                        <h1>"Pipelines"</h1>
                        {admin.then(|| view! { <p class="head-links"><a class="button" href="/pipelines/new">"New pipeline"</a></p> })}
                    </div>
                    {deleted.map(|name| view! {
                        <p class="notice notice-ok" role="status">{format!("Pipeline {name} was deleted. Its runs stay in the runs list.")}</p>
                    })}
                };
                let body = match pipelines.await {
                    Err(e) => view! { <LoadError message=e.to_string()/> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <section class="empty">
                            <h2>"No pipelines yet"</h2>
                            {admin.then(|| view! { <p><a class="button" href="/pipelines/new">"New pipeline"</a></p> })}
                            <p>{if admin { "Link a repository to ECS services with the form, declare" } else { "Declare" }}
                               " them as "<code>"[[pipeline]]"</code>" tables in "<code>"shipgate.toml"</code>
                               ", or POST them to "<code>"/api/v1/pipelines"</code>"."</p>
                        </section>
                    }.into_any(),
                    Ok(list) => {
                        let checked = checked.await.unwrap_or_default();
                        view! {
                            <table class="table">
                                <thead><tr><th>"Pipeline"</th><th>"Repository"</th><th>"Branch"</th><th>"ECR repository"</th><th>"Environments"</th><th>"Verify"</th></tr></thead>
                                <tbody>
                                    {list.into_iter().map(|p| {
                                        let verified = checked.iter().find(|(name, ..)| *name == p.spec.name).map(|(_, problems, at)| (*problems, *at));
                                        view! { <PipelineRow p verified/> }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any()
                    }
                };
                view! { {head}{body} }.into_any()
            })}}
        </Suspense>
    }
}

/// A pipeline's row; `verified` is its last Verify's problem count and time.
#[component]
fn PipelineRow(p: PipelineRecord, verified: Option<(i64, i64)>) -> impl IntoView {
    let spec = p.spec;
    let trouble = p.reconcile.as_ref().and_then(|r| r.trouble());
    let recovered = p.reconcile.as_ref().map_or(0, |r| r.recovered_runs);
    let envs = spec
        .environments
        .iter()
        .map(|e| view! { <span class=format!("env-chip env-{}", e.promotion)>{e.name.clone()}</span> })
        .collect_view();
    view! {
        <tr>
            <td>
                <a href=format!("/pipelines/{}", spec.name)>{spec.name.clone()}</a>
                <RecoveredRuns count=recovered/>
            </td>
            <td><a href=format!("https://github.com/{}", spec.repository) rel="external">{spec.repository.clone()}</a></td>
            <td><code>{spec.branch.clone()}</code></td>
            <td><code>{spec.ecr_repository.clone()}</code></td>
            <td class="env-chain">{envs}</td>
            <td>{verified.map(|(problems, at)| {
                let checked = format!("Verify at {}", format::timestamp(at));
                if problems > 0 {
                    view! {
                        <a class="badge badge-check-problem" href=format!("/pipelines/{}/setup#verify", spec.name) title=checked>
                            {if problems == 1 { "1 problem".to_owned() } else { format!("{problems} problems") }}
                        </a>
                    }.into_any()
                } else {
                    view! { <span class="badge badge-check-ok" title=checked>"verified"</span> }.into_any()
                }
            })}</td>
        </tr>
        {trouble.map(|why| view! {
            <tr class="reconcile-trouble-row">
                <td colspan="6"><p class="reconcile-trouble" role="status">{why}</p></td>
            </tr>
        })}
    }
}

/// How many runs head reconcile started for a pipeline because no webhook arrived.
#[component]
fn RecoveredRuns(count: i64) -> impl IntoView {
    (count > 0).then(|| {
        let text = if count == 1 { "1 run recovered".to_owned() } else { format!("{count} runs recovered") };
        view! {
            <div class="muted small recovered-runs" title="Runs Shipgate started itself because no webhook arrived for the push">{text}</div>
        }
    })
}

#[component]
pub fn PipelinePage() -> impl IntoView {
    let params = use_params_map();
    let name = Memo::new(move |_| params.read().get("name").unwrap_or_default());
    let pipeline = Resource::new(move || name.get(), get_pipeline);
    let runs = Resource::new(move || name.get(), |name| list_runs(Some(name), None, None));
    let saved = use_query_map().read_untracked().get("saved").is_some();
    let verify = ServerAction::<VerifyPipeline>::new();
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match pipeline.await {
                    Err(e) => view! { <LoadError message=e.to_string()/> }.into_any(),
                    Ok(None) => view! {
                        <Missing title="Pipeline not found" message="No pipeline has this name." back_href="/pipelines" back_label="All pipelines"/>
                    }.into_any(),
                    Ok(Some(p)) => {
                        let recent = runs.await.map(|page| page.items).unwrap_or_default();
                        let admin = admin().await;
                        view! { <PipelineView p recent admin saved verify/> }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn PipelineView(
    p: PipelineRecord,
    recent: Vec<shipgate_pipeline::read::RunSummary>,
    admin: bool,
    saved: bool,
    verify: ServerAction<VerifyPipeline>,
) -> impl IntoView {
    let spec = p.spec;
    let trouble = p.reconcile.as_ref().and_then(|r| r.trouble());
    let runs_href = format!("/?pipeline={}", spec.name);
    view! {
        <Title text=format!("Pipeline {}", spec.name)/>
        <nav class="crumbs"><a href="/pipelines">"Pipelines"</a>" / "<span>{spec.name.clone()}</span></nav>
        <div class="page-head">
            <h1>{spec.name.clone()}</h1>
            <p class="muted">
                <a href=format!("https://github.com/{}/tree/{}", spec.repository, spec.branch) rel="external">
                    {format!("{} @ {}", spec.repository, spec.branch)}
                </a>
                " → ECR "<code>{spec.ecr_repository.clone()}</code>
                " · defined by "{p.source.clone()}" · updated "{format::timestamp(p.updated_at)}
            </p>
            <p class="head-links">
                <a class="button button-quiet" href=format!("/pipelines/{}/images", spec.name)>"Images"</a>
                <a class="button button-quiet" href="/services">"Services"</a>
                {admin.then(|| {
                    let name = spec.name.clone();
                    view! {
                    <a class="button button-quiet" href=format!("/pipelines/{}/setup", spec.name)>"Set up"</a>
                    <ActionForm action=verify>
                        <input type="hidden" name="name" value=name/>
                        <button type="submit" class="button button-quiet">"Verify"</button>
                    </ActionForm>
                    <a class="button button-quiet" href=format!("/pipelines/{}/edit", spec.name)>"Edit"</a>
                    <a class="button button-danger" href=format!("/pipelines/{}/delete", spec.name)>"Delete"</a>
                }})}
            </p>
        </div>
        {saved.then(|| view! { <p class="notice notice-ok" role="status">"Pipeline saved."</p> })}
        {trouble.map(|why| view! { <p class="notice notice-warn reconcile-trouble" role="status">{why}</p> })}
        <h2 class="section-title">"Environments, in promotion order"</h2>
        <ol class="environments">
            {spec.environments.into_iter().map(|e| view! {
                <li class="card environment">
                    <div class="stage-head">
                        <span class="stage-name">{e.name.clone()}</span>
                        <span class=format!("env-chip env-{}", e.promotion)>
                            {if e.promotion.as_str() == "manual" { "manual approval" } else { "auto-promote" }}
                        </span>
                    </div>
                    <dl class="facts">
                        <dt>"Cluster"</dt><dd><code>{e.cluster}</code></dd>
                        <dt>"Service"</dt><dd><code>{e.service}</code></dd>
                        <dt>"Container"</dt><dd><code>{e.container}</code></dd>
                        <dt>"Region"</dt><dd><code>{e.region}</code></dd>
                    </dl>
                </li>
            }).collect_view()}
        </ol>
        <h2 class="section-title">"Recent runs " <a class="small" href=runs_href>"all runs →"</a></h2>
        {if recent.is_empty() {
            view! { <p class="muted">"No runs yet."</p> }.into_any()
        } else {
            view! {
                <table class="table">
                    <thead><tr><th>"Run"</th><th>"Status"</th><th>"Commit"</th><th>"Started"</th></tr></thead>
                    <tbody>
                        {recent.into_iter().take(10).map(|run| view! {
                            <tr>
                                <td><a href=format!("/runs/{}", run.id)>{format!("#{}", run.id)}</a></td>
                                <td><StatusBadge status=run.status.as_str()/><RecoveredChip recovered=run.recovered/></td>
                                <td><span class="sha">{run.commit.short_sha().to_owned()}</span>" "{run.commit.title().to_owned()}</td>
                                <td class="nowrap">{format::timestamp(run.created_at)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
    }
}
