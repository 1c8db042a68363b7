//! The runs list: newest first, filtered by pipeline and status, paged by cursor.

use crate::data::{list_pipelines, list_runs, live_fingerprint};
use crate::format;
use crate::live::on_server_change;
use crate::widgets::{LoadError, Loading, Pager, RecoveredChip, StatusBadge};
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

/// The runs list, on the server: reads the filters from the address, draws the filter form,
/// and hands the list to the [`LiveRuns`] island.
#[component]
pub fn RunsPage() -> impl IntoView {
    let query = use_query_map();
    let read = |key: &str| query.read_untracked().get(key).filter(|v| !v.is_empty());
    let pipeline = read("pipeline");
    let status = read("status");
    let before = read("before").and_then(|b| b.parse::<i64>().ok());
    let pipelines = Resource::new(|| (), |_| list_pipelines());
    // The first page follows the server's changes. What the list looked like when served is
    // taken before the list is read, so a change in between is not lost.
    let seen = Resource::new(
        || (),
        move |_| async move {
            match before {
                None => live_fingerprint(None).await,
                Some(_) => Ok(None),
            }
        },
    );
    let selected_pipeline = pipeline.clone();
    let selected_status = status.clone();
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
                            {move || {
                                let selected = selected_pipeline.clone();
                                Suspend::new(async move {
                                    pipelines.await.unwrap_or_default().into_iter().map(|p| {
                                        let name = p.spec.name;
                                        let is_selected = selected.as_deref() == Some(name.as_str());
                                        view! { <option value=name.clone() selected=is_selected>{name.clone()}</option> }
                                    }).collect_view()
                                })
                            }}
                        </Suspense>
                    </select>
                </label>
                <label>
                    "Status "
                    <select name="status">
                        <option value="">"Any status"</option>
                        {RunStatus::ALL.iter().map(|s| {
                            let value = s.as_str();
                            view! {
                                <option value=value selected=selected_status.as_deref() == Some(value)>{value.replace('_', " ")}</option>
                            }
                        }).collect_view()}
                    </select>
                </label>
                <button type="submit" class="button">"Filter"</button>
                <a class="button button-quiet" href="/">"Clear"</a>
            </form>
        </div>
        <Suspense fallback=Loading>
            {move || {
                let (pipeline, status) = (pipeline.clone(), status.clone());
                Suspend::new(async move {
                    match seen.await {
                        Err(e) => view! { <LoadError message=e.to_string()/> }.into_any(),
                        Ok(seen) => view! { <LiveRuns pipeline status before seen/> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

/// One page of runs, drawn in the browser too: the first page (`seen` is its fingerprint
/// when served) fetches itself again whenever the server says a run was pushed or moved.
#[island]
fn LiveRuns(
    pipeline: Option<String>,
    status: Option<String>,
    before: Option<i64>,
    seen: Option<String>,
) -> impl IntoView {
    let runs = Resource::new(|| (), {
        let (pipeline, status) = (pipeline.clone(), status.clone());
        move |_| list_runs(pipeline.clone(), status.clone(), before)
    });
    if let Some(seen) = seen {
        on_server_change(format!("/events/runs?seen={seen}"), move || runs.refetch());
    }
    view! {
        <Suspense fallback=Loading>
            {move || {
                let (pipeline, status) = (pipeline.clone(), status.clone());
                Suspend::new(async move {
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
                        let older = page.next.map(|next| runs_href(&pipeline, &status, Some(next)));
                        let newest = before.map(|_| runs_href(&pipeline, &status, None));
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
                })
            }}
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
            <td><StatusBadge status=run.status.as_str()/><RecoveredChip recovered=run.recovered/></td>
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
