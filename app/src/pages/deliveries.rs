//! Webhook deliveries: what GitHub sent and what Shipgate made of it.

use crate::data::list_deliveries;
use crate::format;
use crate::widgets::{LoadError, Loading, Pager};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use shipgate_pipeline::DeliverySource;
use shipgate_pipeline::read::DeliveryOutcome;

/// What an outcome means, for its badge's title.
fn outcome_title(outcome: DeliveryOutcome) -> &'static str {
    match outcome {
        DeliveryOutcome::RunCreated => {
            "A push that started a run for each pipeline tracking its branch"
        }
        DeliveryOutcome::Pong => "A ping, answered",
        DeliveryOutcome::CiRecorded => "A CI result, kept for the engine to apply",
        DeliveryOutcome::JoinedRun => {
            "A push whose webhook came late: reconcile had already started its run, which it joined instead of starting another"
        }
        DeliveryOutcome::Ignored => "Recorded; it started nothing",
    }
}

/// Where a delivery came from, for its chip's title.
fn source_title(source: DeliverySource) -> &'static str {
    match source {
        DeliverySource::Webhook => "Sent by GitHub to the webhook",
        DeliverySource::Recovered => {
            "Found by Shipgate itself: read back from GitHub's delivery log, or made by reconcile for a push no webhook told it about"
        }
    }
}

#[component]
pub fn DeliveriesPage() -> impl IntoView {
    let query = use_query_map();
    let before = Memo::new(move |_| {
        query
            .read()
            .get("before")
            .and_then(|b| b.parse::<i64>().ok())
    });
    let deliveries = Resource::new(move || before.get(), list_deliveries);
    view! {
        <Title text="Webhook deliveries"/>
        <div class="page-head">
            <h1>"Webhook deliveries"</h1>
            <p class="muted">"Every delivery GitHub sent to "<code>"/webhooks/github"</code>", and every push Shipgate found itself when no webhook came (source "<em>"recovered"</em>"), newest first, with what it started or why it started nothing."</p>
        </div>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match deliveries.await {
                    Err(e) => view! { <LoadError message=e.to_string()/> }.into_any(),
                    Ok(page) if page.items.is_empty() => view! {
                        <section class="empty"><h2>"No deliveries yet"</h2><p>"GitHub has not sent anything yet."</p></section>
                    }.into_any(),
                    Ok(page) => {
                        let older = page.next.map(|n| format!("/deliveries?before={n}"));
                        view! {
                            <table class="table deliveries">
                                <thead><tr><th>"Delivery"</th><th>"Event"</th><th>"Repository"</th><th>"Outcome"</th><th>"Source"</th><th>"Reason"</th><th>"Received"</th></tr></thead>
                                <tbody>
                                    {page.items.into_iter().map(|d| {
                                        let event = match &d.action { Some(a) => format!("{}.{a}", d.event), None => d.event.clone() };
                                        let outcome = d.outcome.as_str();
                                        let source = d.source.as_str();
                                        view! {
                                            <tr class="delivery-row">
                                                <td><code class="delivery-id">{d.delivery_id.clone()}</code>
                                                    {(d.redeliveries > 0).then(|| view! { <span class="muted small">{format!(" ×{}", d.redeliveries + 1)}</span> })}
                                                </td>
                                                <td><code>{event}</code></td>
                                                <td>{d.repository.clone().unwrap_or_default()}</td>
                                                <td><span class=format!("badge badge-outcome-{outcome}") title=outcome_title(d.outcome)>{outcome.replace('_', " ")}</span></td>
                                                <td><span class=format!("delivery-source delivery-source-{source}") title=source_title(d.source)>{source}</span></td>
                                                <td class="reason">
                                                    {d.reason.clone()}
                                                    {d.run_ids.iter().map(|id| view! { " "<a href=format!("/runs/{id}")>{format!("#{id}")}</a> }).collect_view()}
                                                </td>
                                                <td class="nowrap">{format::timestamp(d.received_at)}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <Pager newest=before.get_untracked().map(|_| "/deliveries".to_owned()) older/>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}
