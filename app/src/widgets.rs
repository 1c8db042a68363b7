//! Small pieces shared by the pages.

use leptos::prelude::*;

/// A coloured status label. The class carries the status so CSS can colour it.
#[component]
pub fn StatusBadge(#[prop(into)] status: String) -> impl IntoView {
    let label = status.replace('_', " ");
    view! { <span class=format!("badge badge-{status}")>{label}</span> }
}

/// Shown when a server function fails: the message, never a blank page.
#[component]
pub fn LoadError(#[prop(into)] message: String) -> impl IntoView {
    view! {
        <div class="notice notice-error" role="alert">
            <strong>"Could not load this page. "</strong>
            {message}
        </div>
    }
}

#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="muted">"Loading…"</p> }
}
