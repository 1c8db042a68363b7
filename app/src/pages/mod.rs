pub mod approvals;
pub mod audit;
pub mod deliveries;
pub mod images;
pub mod pipelines;
pub mod run;
pub mod runs;
pub mod services;
pub mod tokens;

use leptos::prelude::*;
#[cfg(feature = "ssr")]
use leptos_meta::Title;

/// Makes a server render answer 404, so links to missing things are honest about it.
pub fn respond_not_found() {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
}

/// The page's `<title>`, from the server's render. For views that an island draws (and
/// draws again in the browser on a live update): the browser has no meta context there (it
/// lives in the server-only shell, with the " · Shipgate" formatter), so it draws nothing
/// and the document keeps the title the server sent.
#[cfg(feature = "ssr")]
pub fn server_title(text: String) -> impl IntoView {
    view! { <Title text/> }
}

/// See the server's [`server_title`]: in the browser, nothing.
#[cfg(not(feature = "ssr"))]
pub fn server_title(_text: String) -> impl IntoView {}

/// A 404 page body: says what is missing and where to go instead.
#[component]
pub fn Missing(
    title: &'static str,
    message: &'static str,
    back_href: &'static str,
    back_label: &'static str,
) -> impl IntoView {
    respond_not_found();
    view! {
        {server_title(title.to_owned())}
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
