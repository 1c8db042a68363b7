pub mod approvals;
pub mod audit;
pub mod deliveries;
pub mod images;
pub mod pipeline_form;
pub mod pipelines;
pub mod run;
pub mod runs;
pub mod services;
pub mod setup;
pub mod tokens;

use leptos::prelude::*;
use leptos_meta::Title;

/// Makes a server render answer 404, so links to missing things are honest about it.
pub fn respond_not_found() {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
}

/// A 404 page body: says what is missing and where to go instead.
#[component]
pub fn Missing(
    title: &'static str,
    message: &'static str,
    back_href: &'static str,
    back_label: &'static str,
) -> impl IntoView {
    view! {
        <Title text=title/>
        <MissingBody title message back_href back_label/>
    }
}

/// [`Missing`] without the `<title>`, for a view an island draws: the browser has no meta
/// context there (it lives in the server-only shell), so the page keeps the server's title.
#[component]
pub fn MissingBody(
    title: &'static str,
    message: &'static str,
    back_href: &'static str,
    back_label: &'static str,
) -> impl IntoView {
    respond_not_found();
    view! {
        <section class="empty">
            <h1>{title}</h1>
            <p>{message}" "<a href=back_href>{back_label}</a></p>
        </section>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    view! { <Missing title="Page not found" message="There is nothing at this address." back_href="/" back_label="Back to runs"/> }
}
