pub mod deliveries;
pub mod pipelines;
pub mod run;
pub mod runs;

use leptos::prelude::*;
use leptos_meta::Title;

/// Makes a server render answer 404, so links to missing things are honest about it.
pub fn respond_not_found() {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    respond_not_found();
    view! {
        <Title text="Not found"/>
        <section class="empty">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. "<a href="/">"Back to runs"</a></p>
        </section>
    }
}
