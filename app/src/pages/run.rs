//! One run: its commit and the Source → Build → Deploy timeline.

use super::Missing;
use crate::data::get_run;
use crate::format;
use crate::widgets::{LoadError, Loading, StatusBadge};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use shipgate_pipeline::StageKind;
use shipgate_pipeline::read::{RunDetail, StageRecord};

#[component]
pub fn RunPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").and_then(|id| id.parse::<i64>().ok()));
    let run = Resource::new(move || id.get(), |id| async move {
        match id {
            Some(id) => get_run(id).await,
            None => Ok(None),
        }
    });
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match run.await {
                    Err(e) => view! { <LoadError message=e.to_string()/> }.into_any(),
                    Ok(None) => view! {
                        <Missing title="Run not found" message="No run has this id." back_href="/" back_label="Back to runs"/>
                    }.into_any(),
                    Ok(Some(detail)) => view! { <RunView detail/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn RunView(detail: RunDetail) -> impl IntoView {
    let run = detail.run;
    let title = format!("Run #{} · {}", run.id, run.pipeline);
    let commit = run.commit.clone();
    view! {
        <Title text=title.clone()/>
        <nav class="crumbs"><a href="/">"Runs"</a>" / "<span>{format!("#{}", run.id)}</span></nav>
        <div class="page-head">
            <h1>
                {format!("Run #{} ", run.id)}
                <StatusBadge status=run.status.as_str()/>
            </h1>
            <p class="muted">
                "Pipeline "<a href=format!("/pipelines/{}", run.pipeline)>{run.pipeline.clone()}</a>
                " · "<code>{run.repository.clone()}</code>" @ "<code>{run.branch.clone()}</code>
                " · started "{format::timestamp(run.created_at)}
            </p>
        </div>
        <section class="card commit">
            <h2 class="commit-message">{commit.title().to_owned()}</h2>
            <dl class="facts">
                <dt>"Commit"</dt>
                <dd><a class="sha" href=commit.url.clone() rel="external">{commit.sha.clone()}</a></dd>
                <dt>"Author"</dt><dd>{commit.author.clone()}</dd>
                <dt>"Pushed by"</dt><dd>{commit.pusher.clone()}</dd>
                <dt>"Committed"</dt><dd>{commit.timestamp.clone()}</dd>
                <dt>"Changes"</dt>
                <dd>
                    {(!commit.compare_url.is_empty()).then(|| view! {
                        <a href=commit.compare_url.clone() rel="external">"Compare on GitHub"</a>
                    })}
                </dd>
            </dl>
        </section>
        <h2 class="section-title">"Timeline"</h2>
        <ol class="timeline" aria-label="Stages">
            {detail.stages.into_iter().map(|stage| view! { <StageCard stage commit_url=commit.url.clone() sha=commit.short_sha().to_owned()/> }).collect_view()}
        </ol>
    }
}

#[component]
fn StageCard(stage: StageRecord, commit_url: String, sha: String) -> impl IntoView {
    let name = match (stage.kind, &stage.environment) {
        (StageKind::Deploy, Some(env)) => format!("Deploy · {env}"),
        (kind, _) => {
            let k = kind.as_str();
            let mut name = k[..1].to_uppercase();
            name.push_str(&k[1..]);
            name
        }
    };
    let status = stage.status.as_str();
    let duration = stage.duration_ms().map(format::duration);
    view! {
        <li class=format!("stage stage-{status}") data-stage=stage.kind.as_str()>
            <div class="stage-head">
                <span class="stage-name">{name}</span>
                <StatusBadge status=status/>
            </div>
            {(stage.kind == StageKind::Source).then(|| view! {
                <p class="stage-detail"><a class="sha" href=commit_url.clone() rel="external">{sha.clone()}</a></p>
            })}
            {stage.promotion.map(|p| view! {
                <p class="stage-detail muted">{if p.as_str() == "manual" { "Manual approval" } else { "Automatic promotion" }}</p>
            })}
            <dl class="stage-times">
                <dt>"Started"</dt><dd>{stage.started_at.map(format::timestamp).unwrap_or_else(|| "—".into())}</dd>
                <dt>"Finished"</dt><dd>{stage.finished_at.map(format::timestamp).unwrap_or_else(|| "—".into())}</dd>
                <dt>"Duration"</dt><dd>{duration.unwrap_or_else(|| "—".into())}</dd>
            </dl>
            {(!stage.detail.is_empty() && stage.kind != StageKind::Source).then(|| view! { <p class="stage-detail">{stage.detail.clone()}</p> })}
        </li>
    }
}
