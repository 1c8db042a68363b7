//! Services: each pipeline environment's ECS service, as Shipgate's own deploy records
//! describe it. The page never asks AWS; it says what Shipgate last did and saw.

use crate::data::list_services;
use crate::format;
use crate::widgets::{Digest, LoadError, Loading, StatusBadge, TaskCounts, TaskDefinition};
use leptos::prelude::*;
use leptos_meta::Title;
use shipgate_pipeline::read::{ServiceDeploy, ServiceRecord};

#[component]
pub fn ServicesPage() -> impl IntoView {
    let services = Resource::new(|| (), |_| list_services());
    view! {
        <Title text="Services"/>
        <div class="page-head">
            <div>
                <h1>"Services"</h1>
                <p class="muted">"What each environment's ECS service runs according to Shipgate's last successful deploy, "
                   "with the deploys Shipgate made to it. AWS is not asked when this page loads: "
                   "changes made outside Shipgate do not show here."</p>
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
                                {members.into_iter().map(|s| view! { <ServiceCard s/> }).collect_view()}
                            </section>
                        }).collect_view().into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn ServiceCard(s: ServiceRecord) -> AnyView {
    let console = s.console_url();
    let counts = s.last_counts().cloned();
    let promotion = s.promotion.as_str();
    let pipeline = s.pipeline.clone();
    let environment = s.environment.clone();
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
            <dl class="facts service-facts">
                <dt>"Task definition"</dt>
                <dd>{match s.current.as_ref().and_then(|c| c.task_definition.clone()) {
                    Some(td) => view! { <TaskDefinition arn=td/> }.into_any(),
                    None => view! { <span class="muted">"—"</span> }.into_any(),
                }}</dd>
                <dt>"Image"</dt>
                <dd class="current-image">{match s.current.clone() {
                    Some(c) => view! {
                        <Digest digest=c.digest().to_owned() full=c.image.clone()/>
                        " deployed by "<a href=format!("/runs/{}", c.run_id)>{format!("run #{}", c.run_id)}</a>
                        {c.finished_at.map(|t| view! { <span class="muted">{format!(" · {}", format::timestamp(t))}</span> })}
                    }.into_any(),
                    None => view! { <span class="muted">"Shipgate has not deployed to this service successfully yet."</span> }.into_any(),
                }}</dd>
                <dt>"Tasks"</dt>
                <dd>{match counts {
                    Some(c) => view! {
                        <TaskCounts running=c.running desired=c.desired pending=c.pending failed=c.failed/>
                        <span class="muted small">{format!("as last seen by run #{}", c.run_id)}</span>
                    }.into_any(),
                    None => view! { <span class="muted">"—"</span> }.into_any(),
                }}</dd>
            </dl>
            <h3 class="events-title">"Recent deploys"</h3>
            {if s.recent.is_empty() {
                view! { <p class="muted">"None yet."</p> }.into_any()
            } else {
                view! {
                    <table class="table compact service-deploys">
                        <thead><tr><th>"Run"</th><th>"Outcome"</th><th>"Image"</th><th>"Task definition"</th><th>"Tasks"</th><th>"When"</th></tr></thead>
                        <tbody>
                            {s.recent.into_iter().map(|d| view! { <DeployRow d pipeline=pipeline.clone() environment=environment.clone()/> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </article>
    }
    .into_any()
}

#[component]
fn DeployRow(d: ServiceDeploy, pipeline: String, environment: String) -> AnyView {
    let state = d.state().to_owned();
    let outcome_attr = state.clone();
    let when = match (d.finished_at, d.started_at) {
        (Some(f), _) => format::timestamp(f),
        (None, Some(s)) => format!("started {}", format::timestamp(s)),
        (None, None) => format!("queued {}", format::timestamp(d.queued_at)),
    };
    // A deploy made for another pipeline or environment that shares this service.
    let elsewhere = (d.pipeline != pipeline || d.environment != environment).then(|| format!("{} · {}", d.pipeline, d.environment));
    let counts = match (d.running, d.desired) {
        (Some(r), Some(w)) => format!("{r}/{w}"),
        _ => "—".to_owned(),
    };
    let sha = d.commit_sha.get(..7).unwrap_or(&d.commit_sha).to_owned();
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
        </tr>
    }
    .into_any()
}
