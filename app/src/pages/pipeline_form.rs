//! New, Edit and Delete of a pipeline, for admins.
//!
//! The form is a plain HTML form, drawn by the server, so it behaves the same with JavaScript
//! on and off. It reloads itself by GET to take a step: a region typed in lists that region's
//! clusters, a cluster chosen lists its services, a service its containers (each a select of
//! what AWS reports, so a name cannot be mistyped). Without JavaScript a "Show …" button
//! takes the step; with it, choosing is enough (one small island submits the form when an
//! input that drives a lookup changes). The repository field suggests what the GitHub token
//! can see, when one is configured. Adding,
//! removing or moving an environment, and importing one from a live service, are buttons
//! that reload it too. Every value rides along in the URL, so nothing typed is lost. Save
//! posts the same form to the server's door at this page's address, which saves through the
//! pipeline use-cases, or renders this page again with each error beside its field.

use super::Missing;
use crate::linking::{
    DeletePipeline, PipelineSubmission, discover_ecr, discover_ecs, discover_github,
    editable_pipeline,
};
use crate::widgets::{ChangeError, LoadError, Loading, NoAccess, is_refusal};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use shipgate_pipeline::discovery::{
    EcrDiscovery, EcsDiscovery, GitHubDiscovery, Lookup, ServiceFound,
};
use shipgate_pipeline::pipeline_form::{EnvironmentForm, FormStep, PipelineForm, env_field};
use shipgate_pipeline::read::PipelineRecord;
use shipgate_pipeline::spec::MAX_ENVIRONMENTS;
use shipgate_pipeline::{FieldError, Role};
use std::collections::BTreeMap;

/// Marks a URL as carrying the form (so an edit starts from it, not from the pipeline).
const CARRIED: &str = "form";
/// The import fields, which are the page's own and not part of the pipeline.
const IMPORT_REGION: &str = "import_region";
const IMPORT_ROLE: &str = "import_role_arn";
const IMPORT_SERVICE: &str = "import_service";

/// Region codes offered as suggestions while typing (any valid code may be typed).
const REGIONS: [&str; 20] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "me-central-1",
    "af-south-1",
];

#[component]
pub fn NewPipelinePage() -> impl IntoView {
    view! { <PipelineFormPage editing=None/> }
}

#[component]
pub fn EditPipelinePage() -> impl IntoView {
    let name = use_params_map()
        .read_untracked()
        .get("name")
        .unwrap_or_default();
    view! { <PipelineFormPage editing=Some(name)/> }
}

/// The form's page: a new pipeline, or (`editing`) the edit of one.
#[component]
fn PipelineFormPage(editing: Option<String>) -> impl IntoView {
    let submission = use_context::<PipelineSubmission>();
    let sent: Vec<(String, String)> = match &submission {
        Some(s) => s.pairs.clone(),
        None => use_query_map()
            .get_untracked()
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v))
            .collect(),
    };
    let value = {
        let sent = sent.clone();
        move |key: &str| {
            sent.iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.trim().to_owned())
        }
    };
    let carried = value(CARRIED).is_some();
    let step = value("op").and_then(|op| FormStep::parse(&op));
    let import_region = value(IMPORT_REGION).unwrap_or_default();
    let import_role = value(IMPORT_ROLE).unwrap_or_default();
    let import_service = value(IMPORT_SERVICE).unwrap_or_default();
    let path = match &editing {
        Some(name) => format!("/pipelines/{name}/edit"),
        None => "/pipelines/new".to_owned(),
    };
    let title = match &editing {
        Some(name) => format!("Edit pipeline {name}"),
        None => "New pipeline".to_owned(),
    };
    let start = Resource::new(|| (), {
        let editing = editing.clone();
        move |_| editable_pipeline(editing.clone())
    });
    view! {
        <Title text=title/>
        <Suspense fallback=Loading>
            {move || {
                let (sent, path, editing, submission) = (sent.clone(), path.clone(), editing.clone(), submission.clone());
                let import = Importing { region: import_region.clone(), role_arn: import_role.clone(), service: import_service.clone() };
                Suspend::new(async move {
                    let current = match start.await {
                        Err(e) if is_refusal(&e) => return view! { <NoAccess need=Role::Admin/> }.into_any(),
                        Err(e) => return view! { <LoadError message=e.to_string()/> }.into_any(),
                        Ok(current) => current,
                    };
                    if editing.is_some() && current.is_none() {
                        return view! {
                            <Missing title="Pipeline not found" message="No pipeline has this name." back_href="/pipelines" back_label="All pipelines"/>
                        }.into_any();
                    }
                    let mut form = match &current {
                        _ if carried || submission.is_some() => PipelineForm::from_pairs(sent.iter().map(|(k, v)| (k, v))),
                        Some(record) => PipelineForm::from_spec(&record.spec),
                        None => {
                            let mut form = PipelineForm::default();
                            form.add_environment();
                            form
                        }
                    };
                    let mut import_error = None;
                    if let Some(step) = step {
                        if step == FormStep::Import {
                            import_error = import.fill(&mut form).await;
                        } else {
                            form.apply(step);
                        }
                        if import_error.is_none() {
                            // Taken: show the form as it is now at an address that does not
                            // take the step again on reload.
                            let mut pairs = form.pairs();
                            pairs.push((CARRIED.into(), "1".into()));
                            pairs.push((IMPORT_REGION.into(), import.region.clone()));
                            pairs.push((IMPORT_ROLE.into(), import.role_arn.clone()));
                            let query: leptos_router::params::ParamsMap = pairs.into_iter().collect();
                            go_to(&format!("{path}{}", query.to_query_string()));
                            return ().into_any();
                        }
                    }
                    let choices = Choices::look_up(&form, &import).await;
                    view! {
                        <FormView form path editing current submission choices import import_error/>
                    }.into_any()
                })
            }}
        </Suspense>
    }
}

/// Answers the page's render with a redirect to `url`. (A page is always fetched by a
/// browser's navigation, so this is a plain 302 whatever the request accepts, unlike
/// `leptos_axum::redirect`, which also serves server-function calls.)
fn go_to(url: &str) {
    #[cfg(feature = "ssr")]
    if let (Some(response), Ok(location)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(url),
    ) {
        response.insert_header(http::header::LOCATION, location);
        response.set_status(http::StatusCode::FOUND);
    }
    #[cfg(not(feature = "ssr"))]
    let _ = url;
}

/// The "Import from a live service" fields: where to look, as whom, and the service chosen
/// (`cluster/service`).
#[derive(Clone, Default)]
struct Importing {
    region: String,
    role_arn: String,
    service: String,
}

impl Importing {
    fn place(&self) -> Place {
        (
            self.region.trim().to_owned(),
            self.role_arn.trim().to_owned(),
        )
    }

    /// Fills an environment from the service chosen; why not, if it cannot.
    async fn fill(&self, form: &mut PipelineForm) -> Option<String> {
        let Some((cluster, service)) = self.service.split_once('/') else {
            return Some("choose a service to import".into());
        };
        let (region, role_arn) = self.place();
        let found = match discover_ecs(
            region.clone(),
            (!role_arn.is_empty()).then(|| role_arn.clone()),
        )
        .await
        {
            Ok(Lookup::Found(found)) => found,
            Ok(Lookup::Failed(why)) => return Some(why),
            Err(e) => return Some(e.to_string()),
        };
        let (Some(cluster), Some(service)) =
            (found.cluster(cluster), found.service(cluster, service))
        else {
            return Some(format!("{} is no longer in {region}", self.service));
        };
        if let Some(why) = service.unsupported() {
            return Some(format!("{}: {why}", service.name));
        }
        form.import(&region, &role_arn, cluster, service);
        None
    }
}

/// Where ECS is read: a region, and the role read as (empty: Shipgate's own identity).
type Place = (String, String);

fn place_of(env: &EnvironmentForm) -> Place {
    (env.region.trim().to_owned(), env.role_arn.trim().to_owned())
}

/// What AWS (and GitHub) reported for the places the form names.
#[derive(Clone, Default)]
struct Choices {
    ecs: BTreeMap<Place, Lookup<EcsDiscovery>>,
    ecr: Option<(String, Lookup<EcrDiscovery>)>,
    /// None: no GitHub token is configured, so the repository is typed in.
    github: Option<Lookup<GitHubDiscovery>>,
}

impl Choices {
    async fn look_up(form: &PipelineForm, import: &Importing) -> Choices {
        let mut choices = Choices::default();
        let places = form
            .environments
            .iter()
            .map(place_of)
            .chain([import.place()])
            .filter(|(region, _)| !region.is_empty());
        for place in places {
            if choices.ecs.contains_key(&place) {
                continue;
            }
            let (region, role_arn) = place.clone();
            let found = discover_ecs(region, (!role_arn.is_empty()).then_some(role_arn))
                .await
                .unwrap_or_else(|e| Lookup::Failed(e.to_string()));
            choices.ecs.insert(place, found);
        }
        choices.github = discover_github()
            .await
            .unwrap_or_else(|e| Some(Lookup::Failed(e.to_string())));
        if let Some(region) = form.ecr_region() {
            let found = discover_ecr(region.to_owned())
                .await
                .unwrap_or_else(|e| Lookup::Failed(e.to_string()));
            choices.ecr = Some((region.to_owned(), found));
        }
        choices
    }
}

/// The errors about `field` (or an item of it, such as `approvers[1]`), as one sentence.
fn error_of(errors: &[FieldError], field: &str) -> Option<String> {
    let item = format!("{field}[");
    let messages: Vec<&str> = errors
        .iter()
        .filter(|e| e.field == field || e.field.starts_with(&item))
        .map(|e| e.message.as_str())
        .collect();
    (!messages.is_empty()).then(|| messages.join("; "))
}

/// A field's error, beside it; its id is what the input's `aria-describedby` names.
#[component]
fn ErrorNote(#[prop(into)] field: String, message: Option<String>) -> impl IntoView {
    message.map(|m| {
        view! {
            <p class="field-error" role="alert" id=format!("error-{field}") data-error-for=field.clone()>{m}</p>
        }
    })
}

#[component]
#[allow(clippy::too_many_arguments)]
fn FormView(
    form: PipelineForm,
    path: String,
    editing: Option<String>,
    current: Option<PipelineRecord>,
    submission: Option<PipelineSubmission>,
    choices: Choices,
    import: Importing,
    import_error: Option<String>,
) -> impl IntoView {
    let errors: Vec<FieldError> = submission
        .as_ref()
        .map(|s| s.errors.clone())
        .unwrap_or_default();
    let refusal = submission.map(|s| s.message).filter(|m| !m.is_empty());
    let err = |field: &str| error_of(&errors, field);
    let crumb = editing.clone();
    let heading = match &editing {
        Some(name) => format!("Edit {name}"),
        None => "New pipeline".to_owned(),
    };
    let from_config = current.as_ref().is_some_and(|c| c.source == "config");
    let count = form.environments.len();
    let environments = form
        .environments
        .iter()
        .enumerate()
        .map(|(i, env)| {
            let lookup = choices.ecs.get(&place_of(env)).cloned();
            view! { <EnvironmentFields i env=env.clone() count lookup errors=errors.clone()/> }
        })
        .collect_view();
    let save = if editing.is_some() {
        "Save changes"
    } else {
        "Create pipeline"
    };
    let post_to = path.clone();
    let back = match &editing {
        Some(name) => format!("/pipelines/{name}"),
        None => "/pipelines".to_owned(),
    };
    // Drawn here, owned, because an island's children must outlive this function.
    let form_view = view! {
            <form class="pipeline-form" method="get" action=path>
                <input type="hidden" name=CARRIED value="1"/>
                <section class="card form-section">
                    <h2>"Source and image"</h2>
                    <div class="form-grid">
                        <label>
                            "Name"
                            <TextInput name="name" value=form.name.clone() error=err("name") readonly=editing.is_some() placeholder="api"/>
                            <ErrorNote field="name" message=err("name")/>
                        </label>
                        <RepositoryField value=form.repository.clone() lookup=choices.github.clone() error=err("repository")/>
                        <label>
                            "Branch"
                            <TextInput name="branch" value=form.branch.clone() error=err("branch") placeholder="main"/>
                            <ErrorNote field="branch" message=err("branch")/>
                        </label>
                        <label>
                            "ECR region"
                            <input type="text" name="ecr_region" value=form.ecr_region.clone() list="aws-regions" placeholder="the first environment's" data-lookup=""
                                aria-invalid=err("ecr_region").map(|_| "true") aria-describedby="error-ecr_region"/>
                            <ErrorNote field="ecr_region" message=err("ecr_region")/>
                        </label>
                        <EcrRepositoryField value=form.ecr_repository.clone() lookup=choices.ecr.clone() error=err("ecr_repository")/>
                    </div>
                    <button type="submit" class="button button-quiet">"Show repositories"</button>
                </section>

                <h2 class="section-title">"Environments, in promotion order"</h2>
                <ErrorNote field="environments" message=err("environments")/>
                <ol class="environment-fields">{environments}</ol>
                {(count < MAX_ENVIRONMENTS).then(|| view! {
                    <button type="submit" class="button button-quiet" name="op" value=FormStep::AddEnvironment.value()>"Add environment"</button>
                })}

                <ImportFields import lookup=choices.ecs.clone() error=import_error/>

                <div class="form-actions">
                    <button type="submit" class="button" formmethod="post" formaction=post_to>{save}</button>
                    <a class="button button-quiet" href=back>"Cancel"</a>
                </div>
            </form>
    }
    .into_any();
    view! {
        <nav class="crumbs">
            <a href="/pipelines">"Pipelines"</a>" / "
            {crumb.map(|name| view! { <a href=format!("/pipelines/{name}")>{name.clone()}</a>" / " })}
            <span>{if editing.is_some() { "edit" } else { "new" }}</span>
        </nav>
        <div class="page-head">
            <div>
                <h1>{heading}</h1>
                <p class="muted">"Link a GitHub branch to ECS services. Clusters, services and containers are chosen from what AWS reports in each region."</p>
            </div>
        </div>
        {from_config.then(|| view! {
            <div class="notice notice-warn config-source" role="note">
                <strong>"This pipeline is declared in the configuration file. "</strong>
                "Saving here changes it now, but Shipgate writes it again from the file at its next start, undoing this edit: change the file too, or remove the pipeline from it."
            </div>
        })}
        {refusal.map(|m| view! { <div class="notice notice-error form-refusal" role="alert">{m}</div> })}
        <datalist id="aws-regions">
            {REGIONS.into_iter().map(|r| view! { <option value=r></option> }).collect_view()}
        </datalist>
        <StepsOnChange>{form_view}</StepsOnChange>
    }
}

/// A text input that says when it is wrong, and which error explains why.
#[component]
fn TextInput(
    #[prop(into)] name: String,
    value: String,
    error: Option<String>,
    #[prop(optional)] readonly: bool,
    #[prop(optional)] placeholder: &'static str,
) -> impl IntoView {
    view! {
        <input type="text" name=name.clone() value=value readonly=readonly placeholder=placeholder
            aria-invalid=error.map(|_| "true") aria-describedby=format!("error-{name}")/>
    }
}

/// A select of `options` (value, label, disabled) holding `value`. A value AWS did not
/// report (typed earlier, or from before a region changed) stays, marked, so that nothing
/// is dropped silently.
#[component]
fn Select(
    #[prop(into)] name: String,
    value: String,
    options: Vec<(String, String, bool)>,
    #[prop(into)] choose: String,
    #[prop(into)] missing: String,
    error: Option<String>,
    /// Choosing shows the next choices (with JavaScript on; see [`StepsOnChange`]).
    #[prop(optional)]
    lookup: bool,
) -> impl IntoView {
    let known = options.iter().any(|(v, _, _)| *v == value);
    let stray = (!value.is_empty() && !known).then(|| {
        let label = format!("{value} ({missing})");
        view! { <option value=value.clone() selected=true>{label}</option> }
    });
    view! {
        <select name=name.clone() aria-invalid=error.map(|_| "true") aria-describedby=format!("error-{name}") data-lookup=lookup.then_some("")>
            <option value="" selected=value.is_empty()>{choose}</option>
            {stray}
            {options.into_iter().map(|(v, label, disabled)| {
                let selected = v == value;
                view! { <option value=v selected=selected disabled=disabled>{label}</option> }
            }).collect_view()}
        </select>
    }
}

/// The GitHub repository, typed in; with a GitHub token configured, the repositories it
/// can see are offered as the person types (a datalist: a repository the token cannot see
/// may still be linked, and is said to be unseen).
#[component]
fn RepositoryField(
    value: String,
    lookup: Option<Lookup<GitHubDiscovery>>,
    error: Option<String>,
) -> impl IntoView {
    let field = "repository";
    let typed = value.trim().to_owned();
    let (options, note) = match &lookup {
        None => (
            Vec::new(),
            Some("Typed in: with a GitHub token configured (github_token), the repositories it can see are offered here.".to_owned()),
        ),
        Some(Lookup::Failed(why)) => (
            Vec::new(),
            Some(format!("Could not list the GitHub token's repositories: {why}")),
        ),
        Some(Lookup::Found(found)) if found.repositories.is_empty() => (
            Vec::new(),
            Some("The GitHub token can see no repositories: type the name, and give the token access to it.".to_owned()),
        ),
        Some(Lookup::Found(found)) => {
            let note = if !typed.is_empty() && found.repository(&typed).is_none() && !found.truncated {
                format!("The GitHub token cannot see {typed}: check the name, or give the token access to it (Shipgate reports commit statuses with it).")
            } else {
                let more = if found.truncated { " most recently pushed" } else { "" };
                format!("Suggests the {}{more} repositories the GitHub token can see.", found.repositories.len())
            };
            (found.repositories.clone(), Some(note))
        }
    };
    let listed = !options.is_empty();
    view! {
        <label>
            "GitHub repository"
            <input type="text" name=field value=value placeholder="octo-org/api" list=listed.then_some("github-repositories")
                aria-invalid=error.as_ref().map(|_| "true") aria-describedby="error-repository"/>
            {listed.then(|| view! {
                <datalist id="github-repositories">
                    {options.into_iter().map(|r| {
                        let label = format!("{} (default branch {}{})", r.full_name, r.default_branch, if r.private { ", private" } else { "" });
                        view! { <option value=r.full_name label=label></option> }
                    }).collect_view()}
                </datalist>
            })}
            {note.map(|n| view! { <span class="muted small lookup-note" data-note-for=field>{n}</span> })}
            <ErrorNote field=field message=error/>
        </label>
    }
}

/// With JavaScript on, a change to an input marked `data-lookup` (a region, a role, a cluster,
/// a service) submits the form at once, as its "Show …" button would: the next choices
/// appear without a press. Without JavaScript the buttons do it.
#[island]
fn StepsOnChange(children: Children) -> impl IntoView {
    view! { <div class="steps-on-change" on:change=show_next_choices>{children()}</div> }
}

#[cfg(feature = "hydrate")]
fn show_next_choices(event: leptos::ev::Event) {
    use wasm_bindgen::JsCast;
    let Some(input) = event
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
    else {
        return;
    };
    if !input.has_attribute("data-lookup") {
        return;
    }
    if let Some(form) = input
        .closest("form")
        .ok()
        .flatten()
        .and_then(|f| f.dyn_into::<web_sys::HtmlFormElement>().ok())
    {
        // As a press of the form's first plain submit button: no step, just the reload.
        let _ = form.request_submit();
    }
}

#[cfg(not(feature = "hydrate"))]
fn show_next_choices(_: leptos::ev::Event) {}

#[component]
fn EcrRepositoryField(
    value: String,
    lookup: Option<(String, Lookup<EcrDiscovery>)>,
    error: Option<String>,
) -> impl IntoView {
    let field = "ecr_repository";
    let (input, note) = match lookup {
        Some((region, Lookup::Found(found))) if !found.repositories.is_empty() => {
            let options = found
                .repositories
                .iter()
                .map(|r| {
                    let label = if r.scan_on_push {
                        format!("{} (scanned on push)", r.name)
                    } else {
                        r.name.clone()
                    };
                    (r.name.clone(), label, false)
                })
                .collect();
            (
                view! { <Select name=field value options choose="— choose a repository —" missing=format!("not in ECR in {region}") error=error.clone()/> }.into_any(),
                None,
            )
        }
        Some((region, Lookup::Found(_))) => (
            view! { <TextInput name=field value error=error.clone() placeholder="api"/> }
                .into_any(),
            Some(format!(
                "ECR has no repositories in {region}; type the name CI will push to."
            )),
        ),
        Some((region, Lookup::Failed(why))) => (
            view! { <TextInput name=field value error=error.clone() placeholder="api"/> }
                .into_any(),
            Some(format!(
                "Could not list ECR repositories in {region}: {why}"
            )),
        ),
        None => (
            view! { <TextInput name=field value error=error.clone() placeholder="api"/> }
                .into_any(),
            None,
        ),
    };
    view! {
        <label>
            "ECR repository"
            {input}
            {note.map(|n| view! { <span class="muted small lookup-note">{n}</span> })}
            <ErrorNote field=field message=error/>
        </label>
    }
}

/// One environment's inputs: where it deploys (region, then cluster, service and container,
/// each from what AWS reports), how it is promoted, and its gate's policy.
#[component]
fn EnvironmentFields(
    i: usize,
    env: EnvironmentForm,
    count: usize,
    lookup: Option<Lookup<EcsDiscovery>>,
    errors: Vec<FieldError>,
) -> impl IntoView {
    let f = |field: &str| env_field(i, field);
    let err = |field: &str| error_of(&errors, &env_field(i, field));
    let region = env.region.trim().to_owned();
    let role = env.role_arn.trim().to_owned();
    let found = lookup.as_ref().and_then(|l| l.found()).cloned();
    let lookup_error = lookup
        .as_ref()
        .and_then(|l| l.failure())
        .map(|why| format!("AWS: {why}"));
    let (region_error, role_error) = match err("role_arn") {
        Some(role_error) => (err("region"), Some(role_error)),
        // A role AWS would not let Shipgate assume fails the lookup too: say it beside the
        // role, which is what to fix.
        None if !role.is_empty()
            && lookup_error
                .as_deref()
                .is_some_and(|e| e.contains("sts:AssumeRole")) =>
        {
            (err("region"), lookup_error)
        }
        None => (err("region").or(lookup_error), None),
    };
    let in_region = if role.is_empty() {
        format!("not in {region}")
    } else {
        format!("not in {region} as this role")
    };

    let cluster = match &found {
        Some(found) => {
            let options = found
                .clusters
                .iter()
                .map(|c| (c.name.clone(), c.name.clone(), false))
                .collect();
            view! { <Select name=f("cluster") value=env.cluster.clone() options choose="— choose a cluster —" missing=in_region.clone() error=err("cluster") lookup=true/> }.into_any()
        }
        None => {
            view! { <TextInput name=f("cluster") value=env.cluster.clone() error=err("cluster")/> }
                .into_any()
        }
    };
    let chosen_cluster = found
        .as_ref()
        .and_then(|found| found.cluster(env.cluster.trim()).cloned());
    let service = match (&found, &chosen_cluster) {
        (Some(_), Some(cluster)) => {
            let options = cluster
                .services
                .iter()
                .map(|s| {
                    let label = match s.unsupported() {
                        Some(_) => format!(
                            "{} — {} deployments: not supported yet",
                            s.name, s.deployment_controller
                        ),
                        None => s.name.clone(),
                    };
                    (s.name.clone(), label, !s.deployment_controller.supported())
                })
                .collect();
            view! { <Select name=f("service") value=env.service.clone() options choose="— choose a service —" missing=format!("not in cluster {}", cluster.name) error=err("service") lookup=true/> }.into_any()
        }
        (Some(_), None) => view! {
            <input type="hidden" name=f("service") value=env.service.clone()/>
            <span class="muted small">"Choose a cluster first."</span>
        }
        .into_any(),
        (None, _) => {
            view! { <TextInput name=f("service") value=env.service.clone() error=err("service")/> }
                .into_any()
        }
    };
    let chosen_service: Option<ServiceFound> = chosen_cluster.as_ref().and_then(|c| {
        c.services
            .iter()
            .find(|s| s.name == env.service.trim())
            .cloned()
    });
    let unsupported = chosen_service.as_ref().and_then(|s| s.unsupported());
    let container = match (&found, &chosen_service) {
        (Some(_), Some(service)) => {
            let options = service
                .containers
                .iter()
                .map(|c| (c.clone(), c.clone(), false))
                .collect();
            view! { <Select name=f("container") value=env.container.clone() options choose="— choose a container —" missing=format!("not in {}", shipgate_pipeline::rollout::short_task_definition(&service.task_definition)) error=err("container")/> }.into_any()
        }
        (Some(_), None) => view! {
            <input type="hidden" name=f("container") value=env.container.clone()/>
            <span class="muted small">"Choose a service first."</span>
        }.into_any(),
        (None, _) => view! { <TextInput name=f("container") value=env.container.clone() error=err("container")/> }.into_any(),
    };
    let next = match (&found, &chosen_cluster, &chosen_service) {
        (None, _, _) => "Show clusters",
        (Some(_), None, _) => "Show services",
        (Some(_), Some(_), None) => "Show containers",
        (Some(_), Some(_), Some(_)) => "Refresh choices",
    };
    let promotion = env.promotion.trim().to_owned();
    view! {
        <li class="card environment-form" data-environment-index=i>
            <input type="hidden" name=f("was") value=env.was.clone()/>
            <div class="stage-head">
                <span class="stage-name">{format!("Environment {}", i + 1)}</span>
                <span class="environment-buttons">
                    {(i > 0).then(|| view! { <button type="submit" class="button button-quiet" name="op" value=FormStep::MoveUp(i).value()>"Move up"</button> })}
                    {(count > 1).then(|| view! { <button type="submit" class="button button-danger" name="op" value=FormStep::RemoveEnvironment(i).value()>"Remove"</button> })}
                </span>
            </div>
            <div class="form-grid">
                <label>
                    "Name"
                    <TextInput name=f("name") value=env.name.clone() error=err("name") placeholder="staging"/>
                    <ErrorNote field=f("name") message=err("name")/>
                </label>
                <label>
                    "Promotion"
                    <select name=f("promotion") aria-invalid=err("promotion").map(|_| "true") aria-describedby=format!("error-{}", f("promotion"))>
                        <option value="" selected=promotion.is_empty()>"— choose —"</option>
                        <option value="auto" selected=promotion == "auto">"auto: deploy as soon as it is built"</option>
                        <option value="manual" selected=promotion == "manual">"manual: wait for approval"</option>
                    </select>
                    <ErrorNote field=f("promotion") message=err("promotion")/>
                </label>
            </div>
            <div class="form-grid">
                <label>
                    "Region"
                    <input type="text" name=f("region") value=env.region.clone() list="aws-regions" placeholder="us-east-1" data-lookup=""
                        aria-invalid=region_error.as_ref().map(|_| "true") aria-describedby=format!("error-{}", f("region"))/>
                    <ErrorNote field=f("region") message=region_error.clone()/>
                </label>
                <label>
                    "Deploy role (optional)"
                    <input type="text" name=f("role_arn") value=env.role_arn.clone() placeholder="Shipgate's own AWS identity" data-lookup=""
                        aria-invalid=role_error.as_ref().map(|_| "true") aria-describedby=format!("error-{}", f("role_arn"))/>
                    <span class="muted small">"For a service in another account: the IAM role deploys assume. Its clusters are listed as that role sees them."</span>
                    <ErrorNote field=f("role_arn") message=role_error/>
                </label>
                <label>
                    "Cluster"
                    {cluster}
                    <ErrorNote field=f("cluster") message=err("cluster")/>
                </label>
                <label>
                    "Service"
                    {service}
                    <ErrorNote field=f("service") message=err("service").or(unsupported)/>
                </label>
                <label>
                    "Container"
                    {container}
                    <ErrorNote field=f("container") message=err("container")/>
                </label>
            </div>
            <button type="submit" class="button button-quiet lookup">{next}</button>
            <fieldset class="approval-policy">
                <legend>"Approval, when promotion is manual"</legend>
                <div class="form-grid">
                    <label>
                        "Approvals required"
                        <input type="number" name=f("required_approvals") value=env.required_approvals.clone() min="1" max="10" placeholder="1"
                            aria-invalid=err("required_approvals").map(|_| "true") aria-describedby=format!("error-{}", f("required_approvals"))/>
                        <ErrorNote field=f("required_approvals") message=err("required_approvals")/>
                    </label>
                    <label>
                        "Approvers"
                        <TextInput name=f("approvers") value=env.approvers.clone() error=err("approvers") placeholder="anyone with the role; or alice@example.com, bob@example.com"/>
                        <ErrorNote field=f("approvers") message=err("approvers")/>
                    </label>
                    <label>
                        "Expires after"
                        <TextInput name=f("approval_expiry") value=env.approval_expiry.clone() error=err("approval_expiry") placeholder="7d"/>
                        <ErrorNote field=f("approval_expiry") message=err("approval_expiry")/>
                    </label>
                    <label class="checkbox">
                        <input type="checkbox" name=f("allow_self_approval") checked=env.allow_self_approval/>
                        "The pusher or a commit's author may approve"
                    </label>
                </div>
            </fieldset>
        </li>
    }
}

/// "Import from a live service": pick a region and one of its services, and an environment
/// is filled in from what ECS reports of it.
#[component]
fn ImportFields(
    import: Importing,
    lookup: BTreeMap<Place, Lookup<EcsDiscovery>>,
    error: Option<String>,
) -> impl IntoView {
    let found = lookup.get(&import.place()).cloned();
    let (region, chosen) = (import.region.clone(), import.service.clone());
    let failure = found
        .as_ref()
        .and_then(|l| l.failure())
        .map(|why| format!("AWS: {why}"));
    let services = found.as_ref().and_then(|l| l.found()).map(|found| {
        let options: Vec<(String, String, bool)> = found
            .clusters
            .iter()
            .flat_map(|c| {
                c.services.iter().map(move |s| {
                    let value = format!("{}/{}", c.name, s.name);
                    let label = match s.unsupported() {
                        Some(_) => format!("{value} — {} deployments: not supported yet", s.deployment_controller),
                        None => format!("{value} ({})", s.containers.join(", ")),
                    };
                    (value, label, !s.deployment_controller.supported())
                })
            })
            .collect();
        let empty = options.is_empty();
        view! {
            {if empty {
                view! { <span class="muted small">{format!("ECS has no services in {region}.")}</span> }.into_any()
            } else {
                view! {
                    <label>
                        "Service"
                        <Select name=IMPORT_SERVICE value=chosen.clone() options choose="— choose a service —" missing="gone" error=None/>
                    </label>
                }.into_any()
            }}
            {(!empty).then(|| view! {
                <button type="submit" class="button button-quiet" name="op" value=FormStep::Import.value()>"Import"</button>
            })}
        }
    });
    view! {
        <section class="card form-section import-service">
            <h2>"Import from a live service"</h2>
            <p class="muted small">"Fills in an environment (cluster, service and container) from a service ECS runs now."</p>
            <div class="form-grid">
                <label>
                    "Region"
                    <input type="text" name=IMPORT_REGION value=region.clone() list="aws-regions" placeholder="us-east-1" data-lookup=""/>
                    <ErrorNote field=IMPORT_REGION message=failure/>
                </label>
                <label>
                    "As role (optional)"
                    <input type="text" name=IMPORT_ROLE value=import.role_arn.clone() placeholder="Shipgate's own AWS identity" data-lookup=""/>
                </label>
                {services}
            </div>
            <ErrorNote field=IMPORT_SERVICE message=error/>
            <button type="submit" class="button button-quiet">"Show services"</button>
        </section>
    }
}

/// Asks before deleting a pipeline; deleting keeps its runs.
#[component]
pub fn DeletePipelinePage() -> impl IntoView {
    let name = use_params_map()
        .read_untracked()
        .get("name")
        .unwrap_or_default();
    let delete = ServerAction::<DeletePipeline>::new();
    let start = Resource::new(|| (), {
        let name = name.clone();
        move |_| editable_pipeline(Some(name.clone()))
    });
    view! {
        <Title text=format!("Delete pipeline {name}")/>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match start.await {
                    Err(e) if is_refusal(&e) => view! { <NoAccess need=Role::Admin/> }.into_any(),
                    Err(e) => view! { <LoadError message=e.to_string()/> }.into_any(),
                    Ok(None) => view! {
                        <Missing title="Pipeline not found" message="No pipeline has this name." back_href="/pipelines" back_label="All pipelines"/>
                    }.into_any(),
                    Ok(Some(record)) => view! { <ConfirmDelete record delete/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ConfirmDelete(record: PipelineRecord, delete: ServerAction<DeletePipeline>) -> impl IntoView {
    let name = record.spec.name.clone();
    let from_config = record.source == "config";
    view! {
        <nav class="crumbs">
            <a href="/pipelines">"Pipelines"</a>" / "<a href=format!("/pipelines/{name}")>{name.clone()}</a>" / "<span>"delete"</span>
        </nav>
        <section class="card confirm-delete">
            <h1>{format!("Delete pipeline {name}?")}</h1>
            <p>
                {format!("Pushes to {} @ {} will no longer start runs, and nothing more deploys to its environments. ", record.spec.repository, record.spec.branch)}
                <strong>"Its runs stay"</strong>" in the runs list and the audit log, as history."
            </p>
            {from_config.then(|| view! {
                <p class="notice notice-warn" role="note">"It is declared in the configuration file, so it comes back at Shipgate's next start unless it is removed there too."</p>
            })}
            <ActionForm action=delete>
                <input type="hidden" name="name" value=name.clone()/>
                <button type="submit" class="button button-danger">{format!("Delete {name}")}</button>
                " "
                <a class="button button-quiet" href=format!("/pipelines/{name}")>"Keep it"</a>
            </ActionForm>
            <ChangeError action=delete/>
        </section>
    }
}
