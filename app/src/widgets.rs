//! Small pieces shared by the pages.

use leptos::prelude::*;
use shipgate_pipeline::cloud::{self, Situation};

/// A coloured status label. The class carries the status so CSS can colour it.
#[component]
pub fn StatusBadge(#[prop(into)] status: String) -> impl IntoView {
    let label = status.replace('_', " ");
    view! { <span class=format!("badge badge-{status}")>{label}</span> }
}

/// Marks a run no webhook started (Shipgate found the push itself); the title says how and when.
#[component]
pub fn RecoveredChip(recovered: Option<shipgate_pipeline::read::RunRecovered>) -> impl IntoView {
    recovered
        .map(|r| view! { " "<span class="run-recovered" title=r.sentence()>"recovered"</span> })
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

/// Whether a server function refused the caller, rather than failed: `access::require`
/// answers "sign in first" (401) or "forbidden: …" (403), and has set the status already.
pub fn is_refusal(e: &ServerFnError) -> bool {
    matches!(e, ServerFnError::ServerError(m) if m.starts_with("forbidden") || m == "sign in first")
}

/// What a page says to someone whose role does not reach it. The status (403) was set by the
/// server function that refused them.
#[component]
pub fn NoAccess(need: shipgate_pipeline::Role) -> impl IntoView {
    view! {
        <leptos_meta::Title text="No access"/>
        <section class="empty no-access" role="alert">
            <h1>"You don't have access to this page"</h1>
            <p>{format!("It needs the {need} role. ")}<a href="/">"Back to runs"</a></p>
        </section>
    }
}

/// What a failed change says, without the framework's prefix.
pub fn change_error(e: &ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// A change's error, shown beside its form while its last attempt stands failed. (Without
/// JavaScript the framework brings the error back in the URL, and the action reads it there.)
#[component]
pub fn ChangeError<T>(action: ServerAction<T>) -> impl IntoView
where
    T: leptos::server_fn::ServerFn<Error = ServerFnError> + Clone + Send + Sync + 'static,
    T::Output: Send + Sync + 'static,
{
    let value = action.value();
    move || {
        value.with(|v| match v {
            Some(Err(e)) => {
                Some(view! { <p class="action-error" role="alert">{change_error(e)}</p> })
            }
            _ => None,
        })
    }
}

#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="muted">"Loading…"</p> }
}

/// A digest, shortened, with the full text (or `full`, e.g. the pinned image) in its title.
#[component]
pub fn Digest(
    #[prop(into)] digest: String,
    #[prop(optional, into)] full: Option<String>,
) -> impl IntoView {
    let short = crate::format::short_digest(&digest);
    let title = full.unwrap_or_else(|| digest.clone());
    view! { <code class="digest" title=title>{short}</code> }
}

/// A task definition as people know it (`family:revision`), with the full ARN in its title.
/// An image reference as a service runs it: by digest when pinned, else by its last
/// path segment (`name:tag`); the title keeps the whole reference.
#[component]
pub fn ImageRef(#[prop(into)] reference: String) -> impl IntoView {
    match reference.rsplit_once('@') {
        Some((_, digest)) => {
            view! { <Digest digest=digest.to_owned() full=reference.clone()/> }.into_any()
        }
        None => {
            let short = reference
                .rsplit('/')
                .next()
                .unwrap_or(&reference)
                .to_owned();
            view! { <code class="image-ref" title=reference>{short}</code> }.into_any()
        }
    }
}

#[component]
pub fn TaskDefinition(#[prop(into)] arn: String) -> impl IntoView {
    let short = shipgate_pipeline::rollout::short_task_definition(&arn).to_owned();
    view! { <code class="task-definition" title=arn>{short}</code> }
}

/// Running against desired tasks, as a bar and in words. Pending tasks show as a lighter
/// segment after the running ones.
#[component]
pub fn TaskCounts(
    running: Option<i64>,
    desired: Option<i64>,
    pending: Option<i64>,
    failed: Option<i64>,
) -> impl IntoView {
    let (run, want) = (running.unwrap_or(0).max(0), desired.unwrap_or(0).max(0));
    let pct = |n: i64| {
        if want == 0 {
            0
        } else {
            (n * 100 / want).clamp(0, 100)
        }
    };
    let running_pct = pct(run);
    let pending_pct = pct(pending.unwrap_or(0).max(0)).min(100 - running_pct);
    let mut words = format!(
        "{}/{} running",
        running.map_or_else(|| "?".to_owned(), |n| n.to_string()),
        desired.map_or_else(|| "?".to_owned(), |n| n.to_string())
    );
    if let Some(p) = pending {
        words.push_str(&format!(" · {p} pending"));
    }
    if let Some(f) = failed.filter(|f| *f > 0) {
        words.push_str(&format!(" · {f} failed"));
    }
    let failing = failed.is_some_and(|f| f > 0);
    view! {
        <div class=if failing { "tasks tasks-failing" } else { "tasks" }>
            // SVG geometry, not inline styles: the content security policy allows no `style`
            // attribute, and a rectangle's width is an attribute, not a style.
            <svg class="tasks-bar" viewBox="0 0 100 8" preserveAspectRatio="none" role="progressbar" aria-label="Running tasks"
                aria-valuemin="0" aria-valuemax=want.to_string() aria-valuenow=run.min(want).to_string()>
                <rect class="tasks-running" x="0" y="0" height="8" width=running_pct.to_string()></rect>
                <rect class="tasks-pending" x=running_pct.to_string() y="0" height="8" width=pending_pct.to_string()></rect>
            </svg>
            <span class="tasks-text">{words}</span>
        </div>
    }
}

/// Scan findings by severity, most severe first; other severities only when non-zero.
#[component]
pub fn ScanCounts(counts: std::collections::BTreeMap<String, i64>) -> impl IntoView {
    const MAIN: [&str; 4] = ["critical", "high", "medium", "low"];
    let mut shown: Vec<(String, i64)> = MAIN
        .iter()
        .map(|s| ((*s).to_owned(), counts.get(*s).copied().unwrap_or(0)))
        .collect();
    shown.extend(
        counts
            .iter()
            .filter(|(s, n)| !MAIN.contains(&s.as_str()) && **n > 0)
            .map(|(s, n)| (s.clone(), *n)),
    );
    view! {
        <span class="scan-counts">
            {shown.into_iter().map(|(severity, n)| {
                let class = if n > 0 { format!("sev sev-{severity}") } else { "sev sev-none".to_owned() };
                view! { <span class=class>{format!("{n} {severity}")}</span> }
            }).collect_view()}
        </span>
    }
}

/// An engine error: one sentence in plain words and its fix first, then AWS's (or
/// Shipgate's) own one-line text.
#[component]
pub fn Problem(#[prop(into)] error: String, outcome: Option<String>) -> impl IntoView {
    let (summary, fix) = match plain_words(outcome.as_deref(), &error) {
        Some((summary, fix)) => (Some(summary), fix),
        None => (None, None),
    };
    view! {
        <div class="problem" role="note">
            {summary.map(|s| view! { <p class="problem-summary">{s}</p> })}
            {fix.map(|f| view! { <p class="problem-fix">{f}</p> })}
            <p class="problem-text">{error}</p>
        </div>
    }
}

/// What an error means for the person reading it, and what to do, when Shipgate can tell.
/// AWS failures are explained by [`cloud::explain`]; the rest by how the deploy ended.
pub fn plain_words(outcome: Option<&str>, error: &str) -> Option<(String, Option<String>)> {
    let situation = match outcome {
        None => Situation::Retrying,
        Some("inventory") => Situation::Inventory,
        Some(_) => Situation::Ended,
    };
    if let Some(e) = cloud::explain(error, situation) {
        return Some((e.sentence, Some(e.fix)));
    }
    let sentence = match outcome {
        Some("rolled_back") => {
            "The new tasks did not become healthy, so ECS rolled the service back to its previous task definition. The new image is not running."
        }
        Some("timed_out") => {
            "The deployment did not settle in time. The service may still be changing: check it in the ECS console."
        }
        Some("failed") => "The deployment failed. The new image is not running as intended.",
        Some("cancelled") | Some("skipped") => "The run ended before this deploy finished.",
        None => "The last attempt failed; Shipgate tries again.",
        Some("inventory") => {
            "Shipgate could not read this from AWS; it tries again at the next refresh."
        }
        Some(_) => return None,
    };
    Some((sentence.to_owned(), None))
}

/// The links under a paged list: back to the newest page, and on to older ones.
#[component]
pub fn Pager(newest: Option<String>, older: Option<String>) -> impl IntoView {
    view! {
        <nav class="pager" aria-label="Pages">
            {newest.map(|href| view! { <a class="button button-quiet" href=href>"← Newest"</a> })}
            {older.map(|href| view! { <a class="button button-quiet" rel="next" href=href>"Older →"</a> })}
        </nav>
    }
}

/// Shows a change's error beside its control.
#[component]
pub fn ActionError(#[prop(into)] error: Signal<Option<String>>) -> impl IntoView {
    move || {
        error
            .get()
            .map(|m| view! { <p class="action-error" role="alert">{m}</p> })
    }
}

/// What a failed change says, without the framework's prefix.
fn message(e: &ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// The last error of `action`'s change, if its last attempt failed.
pub fn last_error<T: Send + Sync + 'static>(
    value: MappedSignal<Option<Result<T, ServerFnError>>>,
) -> impl Fn() -> Option<String> + Copy + Send + Sync + 'static {
    move || {
        value.with(|v| match v {
            Some(Err(e)) => Some(message(e)),
            _ => None,
        })
    }
}
