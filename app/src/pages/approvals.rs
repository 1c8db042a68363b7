//! The decisions the signed-in person owes: every gate they may decide, longest-waiting first.

use crate::data::list_my_gates;
use crate::format;
use crate::widgets::{LoadError, Loading};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn ApprovalsPage() -> impl IntoView {
    let gates = Resource::new(|| (), |_| list_my_gates());
    view! {
        <Title text="Pending approvals"/>
        <div class="page-head">
            <div>
                <h1>"Pending approvals"</h1>
                <p class="muted">"Every gate you may decide, the one waiting longest first. Open a run to see what it would ship, then approve or reject it there."</p>
            </div>
        </div>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match gates.await {
                    Err(e) => view! { <LoadError message=e.to_string()/> }.into_any(),
                    Ok(gates) if gates.is_empty() => view! {
                        <section class="empty"><h2>"Nothing waits for you"</h2><p>"No run is waiting at a gate you may decide."</p></section>
                    }.into_any(),
                    Ok(gates) => view! {
                        <table class="table approvals">
                            <thead><tr><th>"Run"</th><th>"Pipeline"</th><th>"Environment"</th><th>"Change"</th><th>"Waiting since"</th></tr></thead>
                            <tbody>
                                {gates.into_iter().map(|g| view! {
                                    <tr class="approval-row" data-run-id=g.run.id>
                                        <td><a href=format!("/runs/{}", g.run.id)>{format!("#{}", g.run.id)}</a></td>
                                        <td>{g.run.pipeline.clone()}</td>
                                        <td><strong>{g.environment.clone()}</strong></td>
                                        <td>
                                            <code class="sha">{g.run.commit.short_sha().to_owned()}</code>" "
                                            {g.run.commit.message.lines().next().unwrap_or_default().to_owned()}
                                            <span class="muted small">{format!(" by {}", g.run.commit.author)}</span>
                                        </td>
                                        <td class="nowrap">{format::timestamp(g.waiting_since)}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}
