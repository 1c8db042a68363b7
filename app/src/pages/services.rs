//! Services: each pipeline environment's ECS service as ECS last reported it to the engine
//! (task definition, image, task counts), beside the deploys Shipgate made to it. The page
//! reads the store; the engine looks the services up in AWS on a timer and after deploys.

use crate::data::{RollBack, list_services};
use crate::format;
use crate::widgets::{
    ActionError, Digest, ImageRef, LoadError, Loading, Problem, StatusBadge, TaskCounts,
    TaskDefinition, last_error,
};
use leptos::prelude::*;
use leptos_meta::Title;
use shipgate_pipeline::read::{ServiceDeploy, ServiceRecord};

#[component]
pub fn ServicesPage() -> impl IntoView {
    let services = Resource::new(|| (), |_| list_services());
    let rollback = ServerAction::<RollBack>::new();
    view! {
        <Title text="Services"/>
        <div class="page-head">
            <div>
                <h1>"Services"</h1>
                <p class="muted">"What each environment's ECS service runs, as ECS reported it when Shipgate last looked "
                   "(every minute, and after each deploy), with the deploys Shipgate made to it."</p>
            </div>
        </div>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match services.await {
                    Err(e) => view! { <LoadError message=e.to_string()/> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <section class="empty">
                            <h2>"No services yet"</h2>
                            <p>"Services appear here once a pipeline declares environments. "<a href="/pipelines">"Pipelines"</a></p>
                        </section>
                    }.into_any(),
                    Ok(list) => {
                        // Consecutive records share a pipeline (they come in pipeline order).
                        let mut groups: Vec<(String, Vec<ServiceRecord>)> = Vec::new();
                        for s in list {
                            match groups.last_mut() {
                                Some((name, members)) if *name == s.pipeline => members.push(s),
                                _ => groups.push((s.pipeline.clone(), vec![s])),
                            }
                        }
                        groups.into_iter().map(|(pipeline, members)| view! {
                            <section class="service-group" data-pipeline=pipeline.clone()>
                                <h2 class="section-title">
                                    "Pipeline "<a href=format!("/pipelines/{pipeline}")>{pipeline.clone()}</a>
                                    " "<a class="small" href=format!("/pipelines/{pipeline}/images")>"images →"</a>
                                </h2>
                                {members.into_iter().map(|s| view! { <ServiceCard s rollback/> }).collect_view()}
                            </section>
                        }).collect_view().into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn ServiceCard(s: ServiceRecord, rollback: ServerAction<RollBack>) -> AnyView {
    let console = s.console_url();
    let promotion = s.promotion.as_str();
    let pipeline = s.pipeline.clone();
    let environment = s.environment.clone();
    let live_image = s.live_image().map(str::to_owned);
    let container = s.container.clone();
    let live = s.live.clone();
    let observed = live.as_ref().and_then(|l| l.observed_at);
    let live_td = live.as_ref().and_then(|l| l.task_definition.clone());
    view! {
        <article class="card service" data-environment=s.environment.clone()>
            <div class="service-head">
                <div class="service-title">
                    <span class="stage-name">{s.environment.clone()}</span>
                    <span class=format!("env-chip env-{promotion}")>{if promotion == "manual" { "manual approval" } else { "auto-promote" }}</span>
                </div>
                <a class="console-link" href=console rel="external">"Open in ECS console ↗"</a>
            </div>
            <p class="stage-target">
                <code>{format!("{}/{}", s.cluster, s.service)}</code>" · "{s.region.clone()}" · container "<code>{s.container.clone()}</code>
            </p>
            {match live.as_ref() {
                None => view! {
                    <p class="muted live-state">"Not looked up in ECS yet: the engine reads each service every minute and after each deploy."</p>
                }.into_any(),
                Some(l) => view! {
                    <p class="muted small live-state">
                        {match l.observed_at {
                            Some(at) => format!("As ECS reported it at {}.", format::timestamp(at)),
                            None => "ECS has not answered yet.".to_owned(),
                        }}
                    </p>
                    {l.error.clone().map(|e| view! {
                        <div class="live-error">
                            <p class="small">{format!("The look at {} failed; what is shown is from the last one that worked.", format::timestamp(l.checked_at))}</p>
                            <Problem error=e outcome=Some("inventory".to_owned())/>
                        </div>
                    })}
                }.into_any(),
            }}
            <dl class="facts service-facts">
                <dt>"Task definition"</dt>
                <dd class="live-task-definition">{match live.as_ref().and_then(|l| l.task_definition.clone()) {
                    Some(td) => view! { <TaskDefinition arn=td/> }.into_any(),
                    None => view! { <span class="muted">"—"</span> }.into_any(),
                }}</dd>
                <dt>"Image"</dt>
                <dd class="live-image">{match (live_image, observed) {
                    (Some(image), _) => view! {
                        <ImageRef reference=image/>
                        {match s.live_deploy.clone() {
                            Some(d) => view! {
                                " deployed by "<a href=format!("/runs/{}", d.run_id)>{format!("run #{}", d.run_id)}</a>
                                {d.finished_at.map(|t| view! { <span class="muted">{format!(" · {}", format::timestamp(t))}</span> })}
                            }.into_any(),
                            None => view! { <span class="muted small">" not deployed by Shipgate (changed outside it, or older than its first deploy)"</span> }.into_any(),
                        }}
                    }.into_any(),
                    (None, Some(_)) => view! { <span class="muted">{format!("The live task definition has no container `{container}`.")}</span> }.into_any(),
                    (None, None) => view! { <span class="muted">"—"</span> }.into_any(),
                }}</dd>
                <dt>"Tasks"</dt>
                <dd class="live-tasks">{match live.as_ref().filter(|l| l.observed_at.is_some()) {
                    Some(l) => view! {
                        <TaskCounts running=l.running desired=l.desired pending=l.pending failed=None/>
                        {l.deployments.filter(|n| *n > 1).map(|n| view! { <span class="muted small">{format!("{n} deployments in progress")}</span> })}
                        {l.status.clone().filter(|st| st != "ACTIVE").map(|st| view! { <span class="badge badge-failed">{st}</span> })}
                    }.into_any(),
                    None => view! { <span class="muted">"—"</span> }.into_any(),
                }}</dd>
                <dt>"Last Shipgate deploy"</dt>
                <dd class="current-image">{match s.current.clone() {
                    Some(c) => view! {
                        <Digest digest=c.digest().to_owned() full=c.image.clone()/>
                        " by "<a href=format!("/runs/{}", c.run_id)>{format!("run #{}", c.run_id)}</a>
                        {c.finished_at.map(|t| view! { <span class="muted">{format!(" · {}", format::timestamp(t))}</span> })}
                    }.into_any(),
                    None => view! { <span class="muted">"Shipgate has not deployed to this service successfully yet."</span> }.into_any(),
                }}</dd>
            </dl>
            <h3 class="events-title">"Recent deploys"</h3>
            {if s.recent.is_empty() {
                view! { <p class="muted">"None yet."</p> }.into_any()
            } else {
                view! {
                    <table class="table compact service-deploys">
                        <thead><tr><th>"Run"</th><th>"Outcome"</th><th>"Image"</th><th>"Task definition"</th><th>"Tasks"</th><th>"When"</th><th>"Roll back"</th></tr></thead>
                        <tbody>
                            {s.recent.into_iter().map(|d| view! { <DeployRow d pipeline=pipeline.clone() environment=environment.clone() live_td=live_td.clone() rollback/> }).collect_view()}
                        </tbody>
                    </table>
                    <ActionError error=Signal::derive(last_error(rollback.value()))/>
                }.into_any()
            }}
        </article>
    }
    .into_any()
}

#[component]
fn DeployRow(
    d: ServiceDeploy,
    pipeline: String,
    environment: String,
    live_td: Option<String>,
    rollback: ServerAction<RollBack>,
) -> AnyView {
    let state = d.state().to_owned();
    let outcome_attr = state.clone();
    let when = match (d.finished_at, d.started_at) {
        (Some(f), _) => format::timestamp(f),
        (None, Some(s)) => format!("started {}", format::timestamp(s)),
        (None, None) => format!("queued {}", format::timestamp(d.queued_at)),
    };
    // A deploy made for another pipeline or environment that shares this service.
    let elsewhere = (d.pipeline != pipeline || d.environment != environment)
        .then(|| format!("{} · {}", d.pipeline, d.environment));
    let counts = match (d.running, d.desired) {
        (Some(r), Some(w)) => format!("{r}/{w}"),
        _ => "—".to_owned(),
    };
    let sha = d.commit_sha.get(..7).unwrap_or(&d.commit_sha).to_owned();
    // An earlier revision this environment ran successfully, and does not run now: it can
    // be redeployed as it was, without a build, freeze or not.
    let restorable = elsewhere.is_none()
        && state == "succeeded"
        && d.task_definition.is_some()
        && d.task_definition != live_td;
    let rollback_form = restorable.then(|| {
        let run_id = d.run_id;
        view! {
            <ActionForm action=rollback attr:class="rollback-form">
                <input type="hidden" name="id" value=run_id.to_string()/>
                <input type="hidden" name="environment" value=environment.clone()/>
                <input type="text" name="reason" class="action-input" required=true maxlength="500" placeholder="Why (required)" aria-label=format!("Reason for rolling back to run #{run_id}")/>
                <button type="submit" class="button button-danger">"Roll back"</button>
            </ActionForm>
        }
    });
    view! {
        <tr class="service-deploy" data-run-id=d.run_id data-outcome=outcome_attr>
            <td class="nowrap">
                <a href=format!("/runs/{}", d.run_id)>{format!("#{}", d.run_id)}</a>" "<span class="sha muted">{sha}</span>
                {elsewhere.map(|e| view! { <div class="muted small">{e}</div> })}
            </td>
            <td>
                <StatusBadge status=state/>
                {d.error.clone().map(|e| view! { <div class="muted small deploy-error">{e}</div> })}
            </td>
            <td><Digest digest=d.digest().to_owned() full=d.image.clone()/></td>
            <td>{match d.task_definition.clone() {
                Some(td) => view! { <TaskDefinition arn=td/> }.into_any(),
                None => view! { <span class="muted">"—"</span> }.into_any(),
            }}</td>
            <td class="nowrap">{counts}</td>
            <td class="nowrap">{when}</td>
            <td>{rollback_form}</td>
        </tr>
    }
    .into_any()
}
