//! The runs list: newest first, filtered by pipeline and status, paged by cursor.

use crate::data::{list_pipelines, list_runs};
use crate::format;
use crate::live::on_server_change;
use crate::widgets::{LoadError, Loading, Pager, StatusBadge};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use shipgate_pipeline::RunStatus;
use shipgate_pipeline::read::RunSummary;

/// Builds a runs-list URL that keeps the current filters.
fn runs_href(pipeline: &Option<String>, status: &Option<String>, before: Option<i64>) -> String {
    let mut params = Vec::new();
    if let Some(p) = pipeline {
        params.push(format!("pipeline={p}"));
    }
    if let Some(s) = status {
        params.push(format!("status={s}"));
    }
    if let Some(b) = before {
        params.push(format!("before={b}"));
    }
    if params.is_empty() {
        "/".to_owned()
    } else {
        format!("/?{}", params.join("&"))
    }
}

#[component]
pub fn RunsPage() -> impl IntoView {
    let query = use_query_map();
    let pipeline = Memo::new(move |_| query.read().get("pipeline").filter(|p| !p.is_empty()));
    let status = Memo::new(move |_| query.read().get("status").filter(|s| !s.is_empty()));
    let before = Memo::new(move |_| {
        query
            .read()
            .get("before")
            .and_then(|b| b.parse::<i64>().ok())
    });
    let runs = Resource::new(
        move || (pipeline.get(), status.get(), before.get()),
        |(pipeline, status, before)| list_runs(pipeline, status, before),
    );
    let pipelines = Resource::new(|| (), |_| list_pipelines());

    // The first page follows the server's changes while open, so a new push or a run that
    // moves shows up without a reload.
    on_server_change(
        move || before.get().is_none().then(|| "/events/runs".to_owned()),
        move || runs.refetch(),
    );

    view! {
        <Title text="Runs"/>
        <div class="page-head">
            <h1>"Runs"</h1>
            <form class="filters" method="get" action="/">
                <label>
                    "Pipeline "
                    <select name="pipeline">
                        <option value="">"All pipelines"</option>
                        <Suspense fallback=|| ()>
                            {move || Suspend::new(async move {
                                let selected = pipeline.get();
                                pipelines.await.unwrap_or_default().into_iter().map(|p| {
                                    let name = p.spec.name;
                                    let is_selected = selected.as_deref() == Some(name.as_str());
                                    view! { <option value=name.clone() selected=is_selected>{name.clone()}</option> }
                                }).collect_view()
                            })}
                        </Suspense>
                    </select>
                </label>
                <label>
                    "Status "
                    <select name="status">
                        <option value="">"Any status"</option>
                        {move || {
                            let selected = status.get();
                            RunStatus::ALL.iter().map(|s| {
                                let value = s.as_str();
                                view! {
                                    <option value=value selected=selected.as_deref() == Some(value)>{value.replace('_', " ")}</option>
                                }
                            }).collect_view()
                        }}
                    </select>
                </label>
                <button type="submit" class="button">"Filter"</button>
                <a class="button button-quiet" href="/">"Clear"</a>
            </form>
        </div>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match runs.await {
                    Err(e) => view! { <LoadError message=e.to_string()/> }.into_any(),
                    Ok(page) if page.items.is_empty() => view! {
                        <section class="empty">
                            <h2>"No runs yet"</h2>
                            <p>"A run starts when GitHub sends a push to a branch that a pipeline tracks. "
                               "Point a repository's webhook at "<code>"/webhooks/github"</code>" to begin."</p>
                        </section>
                    }.into_any(),
                    Ok(page) => {
                        let older = page.next.map(|next| runs_href(&pipeline.get_untracked(), &status.get_untracked(), Some(next)));
                        let newest = before.get_untracked().map(|_| runs_href(&pipeline.get_untracked(), &status.get_untracked(), None));
                        view! {
                            <table class="table runs">
                                <thead>
                                    <tr>
                                        <th>"Run"</th><th>"Pipeline"</th><th>"Status"</th><th>"Commit"</th>
                                        <th>"Author"</th><th>"Branch"</th><th>"Started"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {page.items.into_iter().map(|run| view! { <RunRow run/> }).collect_view()}
                                </tbody>
                            </table>
                            <Pager newest older/>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn RunRow(run: RunSummary) -> impl IntoView {
    let href = format!("/runs/{}", run.id);
    let pipeline_href = format!("/pipelines/{}", run.pipeline);
    view! {
        <tr class="run-row" data-run-id=run.id>
            <td><a class="run-link" href=href.clone()>{format!("#{}", run.id)}</a></td>
            <td><a href=pipeline_href>{run.pipeline.clone()}</a></td>
            <td><StatusBadge status=run.status.as_str()/></td>
            <td class="commit-cell">
                <a class="sha" href=run.commit.url.clone() rel="external">{run.commit.short_sha().to_owned()}</a>
                " "
                <a class="commit-title" href=href>{run.commit.title().to_owned()}</a>
            </td>
            <td>{run.commit.author.clone()}</td>
            <td><code>{run.branch.clone()}</code></td>
            <td class="nowrap">{format::timestamp(run.created_at)}</td>
        </tr>
    }
}
