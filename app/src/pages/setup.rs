//! A pipeline's Set up page (admins): what to put in GitHub and AWS so that a push builds,
//! is found and deploys, generated from the pipeline itself, and Verify, which checks that
//! it is all in place.

use super::Missing;
use crate::format;
use crate::setup::{SetupView, VerifyPipeline, get_setup};
use crate::widgets::{ChangeError, LoadError, Loading, NoAccess, is_refusal};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use shipgate_pipeline::Role;
use shipgate_pipeline::setup_kit::KitFile;
use shipgate_pipeline::verify::{CheckStatus, VerifyStatus};

#[component]
pub fn SetupPage() -> impl IntoView {
    let name = use_params_map()
        .read_untracked()
        .get("name")
        .unwrap_or_default();
    let query = use_query_map().read_untracked();
    let created = query.get("created").is_some();
    let verify = ServerAction::<VerifyPipeline>::new();
    let setup = Resource::new(|| (), {
        let name = name.clone();
        move |_| get_setup(name.clone())
    });
    view! {
        <Title text=format!("Set up {name}")/>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match setup.await {
                    Err(e) if is_refusal(&e) => view! { <NoAccess need=Role::Admin/> }.into_any(),
                    Err(e) => view! { <LoadError message=e.to_string()/> }.into_any(),
                    Ok(None) => view! {
                        <Missing title="Pipeline not found" message="No pipeline has this name." back_href="/pipelines" back_label="All pipelines"/>
                    }.into_any(),
                    Ok(Some(view)) => {
                        // Islands take 'static children: the kit is drawn first, then handed over.
                        let page = view! { <SetupView view created verify/> }.into_any();
                        view! { <CopyButtons>{page}</CopyButtons> }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn SetupView(
    view: SetupView,
    created: bool,
    verify: ServerAction<VerifyPipeline>,
) -> impl IntoView {
    let name = view.pipeline.clone();
    let kit = view.kit;
    let files = |ids: &[&str]| -> Vec<KitFile> {
        kit.files
            .iter()
            .filter(|f| ids.contains(&f.id.as_str()))
            .cloned()
            .collect()
    };
    let workflow = files(&["workflow"]);
    let ci_iam = files(&[
        "oidc_provider",
        "ci_trust_policy",
        "ci_trust_policy_immutable",
        "ci_push_policy",
    ]);
    // Shipgate's own policy, then one policy per `role_arn` for the calls made as that role.
    let shipgate_iam: Vec<KitFile> = kit
        .files
        .iter()
        .filter(|f| f.id == "shipgate_policy" || f.id.starts_with("role_policy_"))
        .cloned()
        .collect();
    let webhook = kit.webhook.clone();
    let events = webhook.events.join(", ");
    view! {
        <nav class="crumbs">
            <a href="/pipelines">"Pipelines"</a>" / "<a href=format!("/pipelines/{name}")>{name.clone()}</a>" / "<span>"set up"</span>
        </nav>
        <div class="page-head">
            <h1>{format!("Set up {name}")}</h1>
            <p class="muted">"What GitHub and AWS need so that a push to the branch is built, found and deployed. Everything below is generated from this pipeline; values in CAPITALS are placeholders."</p>
        </div>
        {created.then(|| view! {
            <p class="notice notice-ok" role="status">"Pipeline created. Put the pieces below in place; Verify has started and shows what is still missing."</p>
        })}
        <VerifySection name=name.clone() status=view.verify verify/>
        {(!kit.placeholders.is_empty()).then(|| view! {
            <section class="card placeholders">
                <h2>"Placeholders to fill"</h2>
                <ul>
                    {kit.placeholders.iter().map(|p| view! {
                        <li><code>{p.name.clone()}</code>" — "{p.how.clone()}</li>
                    }).collect_view()}
                </ul>
            </section>
        })}
        <h2 class="section-title">"1. The GitHub Actions workflow"</h2>
        {workflow.into_iter().map(|f| view! { <KitFileCard name=name.clone() file=f/> }).collect_view()}
        <h2 class="section-title">"2. IAM for the CI role (GitHub's OIDC, no stored keys)"</h2>
        {ci_iam.into_iter().map(|f| view! { <KitFileCard name=name.clone() file=f/> }).collect_view()}
        <h2 class="section-title">"3. IAM for Shipgate"</h2>
        {shipgate_iam.into_iter().map(|f| view! { <KitFileCard name=name.clone() file=f/> }).collect_view()}
        <h2 class="section-title">"4. ECR repository settings"</h2>
        {kit.ecr_settings.iter().map(|c| {
            let id = format!("kit-{}", c.id);
            view! {
                <section class="card kit-command" id=c.id.clone()>
                    <h3>{c.title.clone()}{c.recommended.then(|| view! { " " <span class="badge badge-recommended">"recommended"</span> })}</h3>
                    <p>{c.about.clone()}</p>
                    <pre class="kit-content" id=id.clone()><code>{c.command.clone()}</code></pre>
                    <button type="button" class="button button-quiet" data-copy=id hidden>"Copy"</button>
                </section>
            }
        }).collect_view()}
        <h2 class="section-title">"5. The GitHub webhook"</h2>
        <section class="card kit-webhook" id="webhook">
            <dl class="facts">
                <dt>"Payload URL"</dt><dd><code id="kit-webhook-url">{webhook.payload_url.clone()}</code>" "
                    <button type="button" class="button button-quiet" data-copy="kit-webhook-url" hidden>"Copy"</button></dd>
                <dt>"Content type"</dt><dd><code>{webhook.content_type.clone()}</code></dd>
                <dt>"Secret"</dt><dd>{webhook.secret.clone()}</dd>
                <dt>"Events"</dt><dd>{events}</dd>
            </dl>
            <p><a class="button" href=webhook.settings_url.clone() rel="external">"Open the repository's webhook settings"</a></p>
        </section>
    }
}

#[component]
fn VerifySection(
    name: String,
    status: Option<VerifyStatus>,
    verify: ServerAction<VerifyPipeline>,
) -> impl IntoView {
    let summary = match &status {
        None => view! { <p class="muted">"Verify has not run yet."</p> }.into_any(),
        Some(s) => {
            let asked = format!(
                "asked for at {} by {}",
                format::timestamp(s.requested_at),
                s.requested_by
            );
            let line = match (&s.report, s.pending) {
                (_, true) => format!("Verify is running ({asked}); reload the page in a moment."),
                (Some(r), false) => format!(
                    "Checked at {}: {} problems, {} not checked, {} ok.",
                    format::timestamp(r.finished_at),
                    r.problems(),
                    r.count(CheckStatus::NotChecked),
                    r.count(CheckStatus::Ok)
                ),
                (None, false) => format!("Verify was {asked}."),
            };
            view! { <p class="verify-summary" role="status">{line}</p> }.into_any()
        }
    };
    let report = status.and_then(|s| s.report);
    view! {
        <section class="card verify" id="verify">
            <div class="stage-head">
                <h2>"Verify"</h2>
                <ActionForm action=verify>
                    <input type="hidden" name="name" value=name/>
                    <button type="submit" class="button">"Verify now"</button>
                </ActionForm>
            </div>
            <p class="muted">"Checks, as Shipgate's own AWS identity and GitHub token: the clusters, services, containers and roles; the repository; every read permission by calling it, every write permission by asking IAM's simulator; and whether the webhook's deliveries arrive."</p>
            {summary}
            <ChangeError action=verify/>
            {report.as_ref().and_then(|r| r.incomplete.clone()).map(|why| view! {
                <p class="notice notice-warn" role="note">{why}</p>
            })}
            {report.map(|r| view! {
                <table class="table checks">
                    <thead><tr><th>"Check"</th><th>"Status"</th><th>"Found"</th><th>"Fix"</th></tr></thead>
                    <tbody>
                        {r.checks.into_iter().map(|c| view! {
                            <tr class=format!("check check-{}", c.status.as_str()) data-check=c.id.clone()>
                                <td><code>{c.id.clone()}</code><br/><span class="muted small">{c.subject}</span></td>
                                <td><span class=format!("badge badge-check-{}", c.status.as_str())>{c.status.as_str().replace('_', " ")}</span></td>
                                <td>{c.detail}</td>
                                <td>{c.fix}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
        </section>
    }
}

#[component]
fn KitFileCard(name: String, file: KitFile) -> impl IntoView {
    let id = format!("kit-{}", file.id);
    let file_name = file
        .path
        .rsplit('/')
        .next()
        .unwrap_or(&file.path)
        .to_owned();
    view! {
        <section class="card kit-file" id=file.id.to_string()>
            <h3>{file.title.clone()}</h3>
            <p>{file.about.clone()}</p>
            <p class="muted small"><code>{file.path.clone()}</code></p>
            <pre class="kit-content" id=id.clone()><code>{file.content.clone()}</code></pre>
            <p class="kit-actions">
                <button type="button" class="button button-quiet" data-copy=id hidden>"Copy"</button>
                " "
                <a class="button button-quiet" href=format!("/pipelines/{name}/setup/files/{}", file.id) download=file_name.clone()>
                    {format!("Download {file_name}")}
                </a>
            </p>
        </section>
    }
}

/// With JavaScript on, each `data-copy` button (hidden until then) copies the text of the
/// element it names. Without JavaScript the text is there to select, and each file has a
/// download link.
#[island]
fn CopyButtons(children: Children) -> impl IntoView {
    Effect::new(move |_| reveal_copy_buttons());
    view! { <div class="copy-buttons" on:click=copy_clicked>{children()}</div> }
}

#[cfg(feature = "hydrate")]
fn reveal_copy_buttons() {
    if let Ok(buttons) = document().query_selector_all("button[data-copy]") {
        for i in 0..buttons.length() {
            if let Some(button) = buttons
                .item(i)
                .and_then(|n| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(n).ok())
            {
                let _ = button.remove_attribute("hidden");
            }
        }
    }
}

#[cfg(not(feature = "hydrate"))]
fn reveal_copy_buttons() {}

#[cfg(feature = "hydrate")]
fn copy_clicked(event: leptos::ev::MouseEvent) {
    use wasm_bindgen::JsCast;
    let Some(button) = event
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .and_then(|e| e.closest("button[data-copy]").ok().flatten())
    else {
        return;
    };
    let Some(text) = button
        .get_attribute("data-copy")
        .and_then(|id| document().get_element_by_id(&id))
        .and_then(|e| e.text_content())
    else {
        return;
    };
    let _ = window().navigator().clipboard().write_text(&text);
    button.set_text_content(Some("Copied"));
}

#[cfg(not(feature = "hydrate"))]
fn copy_clicked(_: leptos::ev::MouseEvent) {}
