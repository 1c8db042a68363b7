//! Images: a pipeline's ECR repository as the engine last listed it, merged with the
//! images its builds found, newest first, each marked with the environments that run it
//! (by ECS's own report of each service).

use super::Missing;
use crate::data::{get_images, list_pipelines};
use crate::format;
use crate::widgets::{Digest, ImageRef, LoadError, Loading, Problem, ScanCounts};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use shipgate_pipeline::read::{ImageRecord, PipelineImages};

/// `/pipelines/:name/images`, and `/images` (optionally `?pipeline=name`; the first
/// pipeline when none is named).
#[component]
pub fn ImagesPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let name = Memo::new(move |_| {
        params
            .read()
            .get("name")
            .or_else(|| query.read().get("pipeline"))
            .filter(|n| !n.is_empty())
    });
    let images = Resource::new(move || name.get(), get_images);
    let pipelines = Resource::new(|| (), |_| list_pipelines());
    view! {
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let named = name.get_untracked().is_some();
                match images.await {
                    Err(e) => view! { <Title text="Images"/><LoadError message=e.to_string()/> }.into_any(),
                    Ok(None) if named => view! {
                        <Missing title="Pipeline not found" message="No pipeline has this name." back_href="/pipelines" back_label="All pipelines"/>
                    }.into_any(),
                    Ok(None) => view! {
                        <Title text="Images"/>
                        <section class="empty">
                            <h1>"No pipelines yet"</h1>
                            <p>"Images show here once a pipeline's builds find them in ECR. "<a href="/pipelines">"Pipelines"</a></p>
                        </section>
                    }.into_any(),
                    Ok(Some(images)) => {
                        let names = pipelines.await.map(|list| list.into_iter().map(|p| p.spec.name).collect()).unwrap_or_default();
                        view! { <ImagesView images names/> }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn ImagesView(images: PipelineImages, names: Vec<String>) -> AnyView {
    let PipelineImages {
        pipeline,
        ecr_repository,
        listing,
        environments,
        images,
        more,
    } = images;
    view! {
        <Title text=format!("Images · {pipeline}")/>
        <nav class="crumbs">
            <a href="/pipelines">"Pipelines"</a>" / "<a href=format!("/pipelines/{pipeline}")>{pipeline.clone()}</a>" / "<span>"Images"</span>
        </nav>
        <div class="page-head">
            <div>
                <h1>{format!("Images · {pipeline}")}</h1>
                <p class="muted">
                    "ECR repository "<code>{ecr_repository.clone()}</code>
                    {match listing.as_ref().and_then(|l| l.observed_at.map(|at| (at, l.image_count))) {
                        Some((at, count)) => format!(
                            ", as listed at {}{}. Images that runs' builds found are merged in.",
                            format::timestamp(at),
                            count.map(|n| format!(" ({n} images)")).unwrap_or_default()
                        ),
                        None => ". Not listed from ECR yet (the engine lists it every minute); these are the images runs' builds found.".to_owned(),
                    }}
                </p>
                {listing.as_ref().and_then(|l| l.error.clone().map(|e| (e, l.checked_at))).map(|(e, at)| view! {
                    <div class="live-error">
                        <p class="small">{format!("Listing the repository at {} failed; the images shown are from the last listing that worked.", format::timestamp(at))}</p>
                        <Problem error=e outcome=Some("inventory".to_owned())/>
                    </div>
                })}
            </div>
            {(names.len() > 1).then(|| view! {
                <form class="filters" method="get" action="/images">
                    <label>
                        "Pipeline "
                        <select name="pipeline">
                            {names.into_iter().map(|n| {
                                let selected = n == pipeline;
                                view! { <option value=n.clone() selected=selected>{n.clone()}</option> }
                            }).collect_view()}
                        </select>
                    </label>
                    <button type="submit" class="button">"Show"</button>
                </form>
            })}
        </div>
        <h2 class="section-title">"Running now"</h2>
        <ul class="live-list">
            {environments.into_iter().map(|e| view! {
                <li class="card live" data-environment=e.environment.clone()>
                    <span class="stage-name">{e.environment.clone()}</span>
                    {match e.image.clone() {
                        Some(image) => view! {
                            <span>
                                {match e.digest.clone() {
                                    Some(digest) => view! { <Digest digest=digest full=image.clone()/> }.into_any(),
                                    None => view! { <ImageRef reference=image.clone()/> }.into_any(),
                                }}
                                {match e.run_id {
                                    Some(run) => view! { " from "<a href=format!("/runs/{run}")>{format!("run #{run}")}</a> }.into_any(),
                                    None => view! { <span class="muted small">" not deployed by Shipgate"</span> }.into_any(),
                                }}
                            </span>
                            {e.since.map(|t| view! { <span class="muted small">{format!("since {}", format::timestamp(t))}</span> })}
                            <span class="muted small">{match e.observed_at {
                                Some(at) => format!("ECS, {}", format::timestamp(at)),
                                None => "Shipgate's record; not looked up in ECS yet".to_owned(),
                            }}</span>
                        }.into_any(),
                        None if e.observed_at.is_some() => view! { <span class="muted">"the pipeline's container is not in the live task definition"</span> }.into_any(),
                        None => view! { <span class="muted">"nothing deployed by Shipgate yet"</span> }.into_any(),
                    }}
                </li>
            }).collect_view()}
        </ul>
        <h2 class="section-title">"Images"</h2>
        {if images.is_empty() {
            view! {
                <section class="empty">
                    <h2>"No images yet"</h2>
                    <p>"The repository holds no images, and no run's build has found one yet."</p>
                </section>
            }.into_any()
        } else {
            view! {
                <table class="table images">
                    <thead><tr><th>"Digest"</th><th>"Tags"</th><th>"Size"</th><th>"Pushed"</th><th>"Scan"</th><th>"Runs"</th><th>"Running in"</th></tr></thead>
                    <tbody>{images.into_iter().map(|image| view! { <ImageRow image/> }).collect_view()}</tbody>
                </table>
                {more.then(|| view! { <p class="muted small">"Older images are not shown."</p> })}
            }.into_any()
        }}
    }
    .into_any()
}

#[component]
fn ImageRow(image: ImageRecord) -> AnyView {
    let live = !image.live_in.is_empty();
    let full = image
        .uri
        .as_ref()
        .map(|u| format!("{u}@{}", image.digest))
        .unwrap_or_else(|| image.digest.clone());
    view! {
        <tr class=if live { "image-row image-live" } else { "image-row" } data-digest=image.digest.clone()>
            <td><Digest digest=image.digest.clone() full=full/></td>
            <td class="tags">
                {image.tags.into_iter().map(|t| view! { <code class="image-tag" title=t.clone()>{short_tag(&t)}</code>" " }).collect_view()}
                {(image.in_registry == Some(false)).then(|| view! { <span class="badge badge-skipped" title="Not in the repository's last listing">"not in ECR"</span> })}
            </td>
            <td class="nowrap">{image.size.map(format::bytes).unwrap_or_else(|| "—".into())}</td>
            <td class="nowrap">{image.pushed_at.map(format::timestamp).unwrap_or_else(|| "—".into())}</td>
            <td>{match image.scan_counts {
                Some(counts) => view! { <ScanCounts counts/> }.into_any(),
                None => view! { <span class="muted">{image.scan_status.unwrap_or_else(|| "—".into())}</span> }.into_any(),
            }}</td>
            <td>{image.runs.into_iter().map(|r| view! { <a href=format!("/runs/{r}")>{format!("#{r}")}</a>" " }).collect_view()}</td>
            <td>
                <span class="env-chain">
                    {image.live_in.into_iter().map(|e| view! {
                        <span class="live-chip" title=format!("running in {e}")>{e.clone()}</span>
                    }).collect_view()}
                </span>
            </td>
        </tr>
    }
    .into_any()
}

/// Tags that are full commit SHAs read better shortened; the title keeps the whole tag.
fn short_tag(tag: &str) -> String {
    if tag.len() == 40 && tag.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!("{}…", &tag[..12])
    } else {
        tag.to_owned()
    }
}
