//! Shipgate's dashboard. Pages render on the server and work with JavaScript off. In the
//! browser only the islands hydrate (`#[island]`: the runs list and a run's page, which follow
//! the server live and submit their forms in place, and `HydrationMarker`); everything else
//! stays the HTML the server sent, its links and forms plain ones. Data comes through the
//! server functions in [`data`], which reach the store through the [`Dashboard`] trait the
//! server places in context, so this crate never depends on the server.

pub mod access;
pub mod admin;
pub mod data;
mod format;
pub mod linking;
mod live;
mod pages;
pub mod setup;
mod widgets;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::{SsrMode, path};
use shipgate_pipeline::access::{Action, Principal, PrincipalKind};

pub use access::{AuthMode, AwsStandIn};
#[cfg(feature = "ssr")]
pub use data::Dashboard;

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    send_content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
                <HydrationMarker/>
            </body>
        </html>
    }
}

/// The content security policy of a dashboard page. Scripts run only from this site or
/// inline with this response's nonce (the hydration script and the resources Leptos streams
/// carry it), so an injected `<script>` or `onclick` does nothing; `'wasm-unsafe-eval'` lets
/// the hydration bundle compile. No inline styles, no frames around the page, no `<base>`,
/// and forms post only here.
pub fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Sends [`page_policy`] with the nonce Leptos made for this response. Without a nonce (a
/// render outside a request), nothing is set and the server's strict default, which runs no
/// script at all, applies: a missing nonce fails closed.
#[cfg(feature = "ssr")]
fn send_content_security_policy() {
    let Some(nonce) = leptos::nonce::use_nonce() else {
        return;
    };
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    if let Ok(value) = http::HeaderValue::from_str(&page_policy(&nonce)) {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The browser's entry point: hydrates each island of the page, in document order.
#[cfg(feature = "hydrate")]
pub fn hydrate() {
    leptos::mount::hydrate_islands();
}

/// Marks the page hydrated (`<html data-hydrated="true">`), so people and the end-to-end
/// tests can tell a live page from server-rendered HTML. It is the last island of every
/// page, and islands hydrate in document order, so the mark means every island before it
/// has its event handlers.
#[island]
fn HydrationMarker() -> impl IntoView {
    Effect::new(move |_| {
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-hydrated", "true");
        }
    });
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let me: WhoAmI = Resource::new(|| (), |_| access::who_am_i());
    view! {
        <Stylesheet id="shipgate" href="/pkg/shipgate.css"/>
        <Title formatter=|page: String| if page.is_empty() { "Shipgate".to_owned() } else { format!("{page} · Shipgate") }/>
        <Router>
            <header class="topbar">
                <a class="brand" href="/">
                    <svg class="brand-mark" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true">
                        <rect x="2" y="3" width="4" height="18" rx="1"/>
                        <rect x="18" y="3" width="4" height="18" rx="1"/>
                        <path d="M6 8h12M6 13h12" stroke-width="2.5"/>
                    </svg>
                    "Shipgate"
                </a>
                <nav class="nav" aria-label="Main">
                    <A href="/" exact=true>"Runs"</A>
                    <A href="/pipelines">"Pipelines"</A>
                    <A href="/services">"Services"</A>
                    <A href="/images">"Images"</A>
                    <A href="/deliveries">"Deliveries"</A>
                    <A href="/approvals">"Approvals"</A>
                    <AdminLinks me/>
                </nav>
                <StandInNotice/>
                <Account me/>
            </header>
            <main class="content">
                <Routes fallback=|| view! { <pages::NotFound/> }>
                    <Route path=path!("/") view=pages::runs::RunsPage ssr=SsrMode::Async/>
                    <Route path=path!("/runs/:id") view=pages::run::RunPage ssr=SsrMode::Async/>
                    <Route path=path!("/pipelines") view=pages::pipelines::PipelinesPage ssr=SsrMode::Async/>
                    <Route path=path!("/pipelines/new") view=pages::pipeline_form::NewPipelinePage ssr=SsrMode::Async/>
                    <Route path=path!("/pipelines/:name") view=pages::pipelines::PipelinePage ssr=SsrMode::Async/>
                    <Route path=path!("/pipelines/:name/edit") view=pages::pipeline_form::EditPipelinePage ssr=SsrMode::Async/>
                    <Route path=path!("/pipelines/:name/delete") view=pages::pipeline_form::DeletePipelinePage ssr=SsrMode::Async/>
                    <Route path=path!("/pipelines/:name/images") view=pages::images::ImagesPage ssr=SsrMode::Async/>
                    <Route path=path!("/pipelines/:name/setup") view=pages::setup::SetupPage ssr=SsrMode::Async/>
                    <Route path=path!("/services") view=pages::services::ServicesPage ssr=SsrMode::Async/>
                    <Route path=path!("/images") view=pages::images::ImagesPage ssr=SsrMode::Async/>
                    <Route path=path!("/deliveries") view=pages::deliveries::DeliveriesPage ssr=SsrMode::Async/>
                    <Route path=path!("/approvals") view=pages::approvals::ApprovalsPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/tokens") view=pages::tokens::TokensPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/audit") view=pages::audit::AuditPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

/// Who is calling, asked once per page for the whole header.
type WhoAmI = Resource<Result<Option<access::Me>, ServerFnError>>;

/// Tokens and Audit, drawn for admins only. Drawing is a courtesy: the pages' server
/// functions refuse everyone else.
#[component]
fn AdminLinks(me: WhoAmI) -> impl IntoView {
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let admin = me.await.ok().flatten().is_some_and(|me| {
                    let principal = Principal { id: String::new(), name: me.name, kind: PrincipalKind::User, grants: me.grants, via: None };
                    principal.may(&Action::Administer)
                });
                admin.then(|| view! {
                    <A href="/admin/tokens">"Tokens"</A>
                    <A href="/admin/audit">"Audit"</A>
                })
            })}
        </Suspense>
    }
}

/// Says, on every page, that AWS calls go to a stand-in rather than to AWS.
#[component]
fn StandInNotice() -> impl IntoView {
    use_context::<AwsStandIn>().map(|stand_in| {
        let text = if stand_in.local {
            "Demo: AWS is a local stand-in"
        } else {
            "AWS calls go to a stand-in"
        };
        view! {
            <div class="aws-stand-in" role="status" title=format!("Every AWS call goes to {}, not to an AWS account.", stand_in.endpoint)>
                <strong>{text}</strong>" at "<code>{stand_in.endpoint.clone()}</code>
            </div>
        }
    })
}

/// Who is signed in, with a sign-out button; or, in local mode, a label that says there is
/// no sign-in at all.
#[component]
fn Account(me: WhoAmI) -> impl IntoView {
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(me)) if me.local => view! {
                        <div class="account local-mode" role="status" title="No identity provider is configured: whoever can reach this address is an admin.">
                            <strong>"Local mode"</strong>" · single user, no sign-in"
                        </div>
                    }.into_any(),
                    Ok(Some(me)) => view! {
                        <div class="account">
                            <span class="account-name">{me.name}</span>
                            <span class="account-access">{me.access}</span>
                            <form method="post" action="/auth/sign-out">
                                <button type="submit" class="link-button">"Sign out"</button>
                            </form>
                        </div>
                    }.into_any(),
                    _ => view! { <a class="account" href="/auth/sign-in" rel="external">"Sign in"</a> }.into_any(),
                }
            })}
        </Suspense>
    }
}
