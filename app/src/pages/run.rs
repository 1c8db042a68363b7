//! One run: its commit and the Source → Build → Deploy timeline.

use super::{Missing, MissingBody};
use crate::access::{Me, who_am_i};
use crate::data::{ApproveGate, CancelRun, RejectGate, RetryRun, get_run, live_fingerprint};
use crate::format;
use crate::live::on_server_change;
use crate::widgets::{
    ActionError, Digest, LoadError, Loading, Problem, ScanCounts, StatusBadge, TaskCounts,
    TaskDefinition, last_error,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use shipgate_pipeline::access::{self as rules, Principal, PrincipalKind};
use shipgate_pipeline::brief::{GateBrief, Gathered};
use shipgate_pipeline::read::{
    BuildInfo, DeployInfo, GateDecision, GateStatus, MessageInfo, RunDetail, RunSummary,
    StageRecord,
};
use shipgate_pipeline::{RunKind, RunStatus, StageKind, StageStatus};

/// The changes a run page can ask for. Created once per page, outside the part that
/// reloads, so their results (and errors) survive the reload they cause.
#[derive(Clone, Copy)]
struct Controls {
    cancel: ServerAction<CancelRun>,
    retry: ServerAction<RetryRun>,
    approve: ServerAction<ApproveGate>,
    reject: ServerAction<RejectGate>,
}

/// The run page, on the server: reads the run's id (and a decision link) from the address,
/// notes how the run looked when served, and hands both to the [`RunLive`] island.
#[component]
pub fn RunPage() -> impl IntoView {
    let id = use_params_map()
        .read_untracked()
        .get("id")
        .and_then(|id| id.parse::<i64>().ok());
    // A decision link from a notification (`?decide=<signed token>`), sent with the decision.
    let link = use_query_map()
        .read_untracked()
        .get("decide")
        .filter(|l| !l.is_empty());
    // Taken before the run is read, so a change in between shows up as soon as the page
    // listens (a refetch), instead of being lost until the next one.
    let seen = Resource::new(
        || (),
        move |_| async move {
            match id {
                Some(id) => live_fingerprint(Some(id)).await,
                None => Ok(None),
            }
        },
    );
    view! {
        <Suspense fallback=Loading>
            {move || {
                let link = link.clone();
                Suspend::new(async move {
                    match (id, seen.await) {
                        (_, Err(e)) => view! { <LoadError message=e.to_string()/> }.into_any(),
                        (Some(id), Ok(Some(seen))) => view! {
                            <Title text=format!("Run #{id}")/>
                            <RunLive id link seen/>
                        }.into_any(),
                        (None, _) | (_, Ok(None)) => view! {
                            <Missing title="Run not found" message="No run has this id." back_href="/" back_label="Back to runs"/>
                        }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

/// The run, drawn in the browser too: it follows the server's changes while open (stages,
/// rollout, approvals, messages) and its forms (cancel, retry, approve, reject) submit in
/// place. `seen` is the run's fingerprint when the server drew the page.
#[island]
fn RunLive(id: i64, link: Option<String>, seen: String) -> impl IntoView {
    let controls = Controls {
        cancel: ServerAction::new(),
        retry: ServerAction::new(),
        approve: ServerAction::new(),
        reject: ServerAction::new(),
    };
    // Each finished change reloads the run. (A retry goes to the new run instead.)
    let changes = move || {
        (
            controls.cancel.version().get(),
            controls.approve.version().get(),
            controls.reject.version().get(),
        )
    };
    let live = RwSignal::new(0u32);
    on_server_change(format!("/events/runs/{id}?seen={seen}"), move || {
        live.update(|n| *n += 1)
    });
    let run = Resource::new(move || (changes(), live.get()), move |_| get_run(id));
    let me = Resource::new(|| (), |_| who_am_i());
    view! {
        // A transition, not a suspense: a live reload keeps the page on screen.
        <Transition fallback=Loading>
            {move || {
                let link = link.clone();
                Suspend::new(async move {
                    let me = me.await.ok().flatten();
                    match run.await {
                        Err(e) => view! { <LoadError message=e.to_string()/> }.into_any(),
                        Ok(None) => view! {
                            <MissingBody title="Run not found" message="No run has this id." back_href="/" back_label="Back to runs"/>
                        }.into_any(),
                        Ok(Some(detail)) => view! { <RunView detail me controls link/> }.into_any(),
                    }
                })
            }}
        </Transition>
    }
}

/// Whether the grants shown to the page allow `action`: only to decide which controls to
/// draw. The server checks again on every change.
fn may(me: Option<&Me>, action: rules::Action<'_>) -> bool {
    me.is_some_and(|me| {
        Principal {
            id: String::new(),
            name: me.name.clone(),
            kind: PrincipalKind::User,
            grants: me.grants.clone(),
            via: None,
        }
        .may(&action)
    })
}

/// Cancel (while the run is live) and Retry (once it ended unsuccessfully), for those who
/// may; and the errors of changes whose control is gone (a form sent from a stale page).
#[component]
fn RunActions(
    run: RunSummary,
    deploying: Option<String>,
    allowed: bool,
    gate_shown: bool,
    controls: Controls,
) -> impl IntoView {
    let id = run.id.to_string();
    let control = match run.status {
        _ if !allowed => None,
        RunStatus::Running | RunStatus::AwaitingApproval => Some(match deploying {
            Some(env) => view! {
                <p class="run-actions-note muted">
                    {format!("The deploy to {env} is rolling out on ECS and cannot be cancelled: wait for it to end, or roll the service back.")}
                </p>
            }
            .into_any(),
            None => view! {
                <ActionForm action=controls.cancel>
                    <input type="hidden" name="id" value=id/>
                    <input type="text" name="reason" class="action-input" placeholder="Reason (optional)" aria-label="Reason for cancelling" maxlength="500"/>
                    <button type="submit" class="button button-danger">"Cancel run"</button>
                </ActionForm>
            }
            .into_any(),
        }),
        // A superseded run's change ships with the newer run that replaced it.
        RunStatus::Succeeded | RunStatus::Superseded => None,
        // A rollback is started again from the services page, not retried.
        RunStatus::Failed | RunStatus::RolledBack | RunStatus::Rejected | RunStatus::Cancelled | RunStatus::Expired if run.kind == RunKind::Rollback => None,
        RunStatus::Failed | RunStatus::RolledBack | RunStatus::Rejected | RunStatus::Cancelled | RunStatus::Expired => Some(
            view! {
                <ActionForm action=controls.retry>
                    <input type="hidden" name="id" value=id/>
                    <button type="submit" class="button">"Retry"</button>
                </ActionForm>
            }
            .into_any(),
        ),
    };
    let gate_errors = (!gate_shown).then(|| {
        view! {
            <ActionError error=Signal::derive(last_error(controls.approve.value()))/>
            <ActionError error=Signal::derive(last_error(controls.reject.value()))/>
        }
    });
    view! {
        <div class="run-action">
            {control}
            <ActionError error=Signal::derive(last_error(controls.cancel.value()))/>
            <ActionError error=Signal::derive(last_error(controls.retry.value()))/>
            {gate_errors}
        </div>
    }
}

/// The newer run a superseded stage gave way to, from the engine's note on it.
fn superseded_by(stage: &StageRecord) -> Option<i64> {
    if stage.status != StageStatus::Superseded {
        return None;
    }
    let rest = stage.detail.split("run #").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// What a waiting gate needs, by its environment's policy: approvals so far, who may not
/// approve, when it expires, and whether a freeze holds it.
#[component]
fn GatePolicy(g: GateStatus) -> impl IntoView {
    let approvals = format!(
        "{} of {} approval{}",
        g.approved_by.len(),
        g.required_approvals,
        if g.required_approvals == 1 { "" } else { "s" }
    );
    let by =
        (!g.approved_by.is_empty()).then(|| format!(" (approved by {})", g.approved_by.join(", ")));
    view! {
        <div class="gate-policy">
            <p class="stage-detail"><strong class="gate-approvals">{approvals}</strong>{by}</p>
            {(!g.allow_self_approval).then(|| view! { <p class="stage-detail muted">"The pusher and the commits’ authors cannot approve their own change."</p> })}
            <p class="stage-detail muted">{format!("Expires {} if nobody decides.", format::timestamp(g.expires_at))}</p>
            {g.frozen.map(|(name, until)| view! {
                <p class="stage-detail gate-frozen" role="status">
                    {format!("Deploy freeze “{name}” until {}: approving needs an admin’s override with a reason.", format::timestamp(until))}
                </p>
            })}
        </div>
    }
}

/// Approve (with an optional comment) or reject (with a required one) at a waiting gate.
/// Both send the digest the page showed, so a decision is never moved onto another image.
#[component]
fn GateForm(choice: GateChoice, controls: Controls) -> impl IntoView {
    let GateChoice {
        run,
        environment,
        digest,
        may_override,
        link,
    } = choice;
    let reject_link = link.clone();
    let from_link = link.is_some();
    let reject_error = last_error(controls.reject.value());
    let approve_label = format!("Approve {environment}");
    let reject_environment = environment.clone();
    let reject_digest = digest.clone();
    view! {
        <div class="gate-form">
            {from_link.then(|| view! {
                <p class="stage-detail gate-link-note" role="note">
                    "You opened this decision from a notification’s link. The link works once; the decision is still checked against your role."
                </p>
            })}
            <ActionForm action=controls.approve>
                <input type="hidden" name="id" value=run.to_string()/>
                <input type="hidden" name="environment" value=environment/>
                {digest.map(|d| view! { <input type="hidden" name="digest" value=d/> })}
                {link.map(|l| view! { <input type="hidden" name="link" value=l/> })}
                <label class="gate-label">
                    "Comment"
                    <textarea name="comment" rows="2" placeholder="Optional when approving"></textarea>
                </label>
                {may_override.then(|| view! {
                    <label class="gate-override">
                        <input type="checkbox" name="override_freeze" value="on"/>
                        " Override the deploy freeze (admins; the comment says why)"
                    </label>
                })}
                <button type="submit" class="button button-approve">{approve_label}</button>
            </ActionForm>
            <ActionError error=Signal::derive(last_error(controls.approve.value()))/>
            <details class="gate-reject" open=move || reject_error().is_some()>
                <summary>"Reject…"</summary>
                <ActionForm action=controls.reject>
                    <input type="hidden" name="id" value=run.to_string()/>
                    <input type="hidden" name="environment" value=reject_environment/>
                    {reject_digest.map(|d| view! { <input type="hidden" name="digest" value=d/> })}
                    {reject_link.map(|l| view! { <input type="hidden" name="link" value=l/> })}
                    <label class="gate-label">
                        "Why (required)"
                        <textarea name="comment" rows="2" required=true></textarea>
                    </label>
                    <button type="submit" class="button button-danger">"Reject"</button>
                </ActionForm>
            </details>
            <ActionError error=Signal::derive(reject_error)/>
        </div>
    }
}

#[component]
fn RunView(
    detail: RunDetail,
    me: Option<Me>,
    controls: Controls,
    link: Option<String>,
) -> impl IntoView {
    let RunDetail {
        run,
        stages,
        commits,
        mut build,
        mut deploys,
        decisions,
        mut gate,
        messages,
        mut briefs,
    } = detail;
    let recovered = run.recovered;
    let admin = may(me.as_ref(), rules::Action::Administer);
    let operate = may(
        me.as_ref(),
        rules::Action::OperateRun {
            pipeline: &run.pipeline,
        },
    );
    let deploying = stages
        .iter()
        .find(|s| s.kind == StageKind::Deploy && s.status == StageStatus::Running)
        .map(|s| s.environment.clone().unwrap_or_default());
    let retry_of = run
        .delivery_id
        .strip_prefix("retry:")
        .and_then(|id| id.parse::<i64>().ok());
    let built_digest = build.as_ref().and_then(|b| b.image_digest.clone());
    let built_scan = build.as_ref().and_then(|b| b.scan_counts.clone());
    // Each Deploy stage gets its environment's deploy record (by position in the pipeline)
    // and the gate decisions taken for it.
    let mut env_index = 0usize;
    let cards = stages
        .into_iter()
        .map(|stage| {
            let mut facts = StageFacts {
                rollback: run.kind == RunKind::Rollback,
                ..StageFacts::default()
            };
            match stage.kind {
                StageKind::Build => facts.build = build.take(),
                StageKind::Deploy => {
                    let position = env_index as i64;
                    env_index += 1;
                    facts.deploy = deploys
                        .iter()
                        .position(|d| d.position == position)
                        .map(|i| deploys.remove(i));
                    facts.decisions = decisions
                        .iter()
                        .filter(|d| Some(&d.environment) == stage.environment.as_ref())
                        .cloned()
                        .collect();
                    facts.brief = briefs
                        .iter()
                        .position(|b| Some(&b.environment) == stage.environment.as_ref())
                        .map(|i| briefs.remove(i));
                    if stage.status == StageStatus::AwaitingApproval {
                        facts.gate_digest = built_digest.clone();
                        facts.gate_scan = built_scan.clone();
                        facts.gate_status = gate.take();
                        let environment = stage.environment.clone().unwrap_or_default();
                        let decide = rules::Action::DecideGate {
                            pipeline: &run.pipeline,
                            environment: &environment,
                        };
                        if may(me.as_ref(), decide) {
                            let frozen = facts
                                .gate_status
                                .as_ref()
                                .is_some_and(|g| g.frozen.is_some());
                            facts.gate = Some(GateChoice {
                                run: run.id,
                                environment,
                                digest: built_digest.clone(),
                                may_override: frozen && admin,
                                link: link.clone(),
                            });
                        }
                    }
                }
                StageKind::Source => {}
            }
            (stage, facts)
        })
        .collect::<Vec<_>>();
    let gate_shown = cards.iter().any(|(_, facts)| facts.gate.is_some());
    // A rollback says why, and what it restores, on its Source stage.
    let rollback_why = (run.kind == RunKind::Rollback)
        .then(|| cards.first().map(|(s, _)| s.detail.clone()))
        .flatten()
        .filter(|d| !d.is_empty());
    let commit = run.commit.clone();
    view! {
        <nav class="crumbs"><a href="/">"Runs"</a>" / "<span>{format!("#{}", run.id)}</span></nav>
        <div class="page-head">
            <h1>
                {format!("Run #{} ", run.id)}
                <StatusBadge status=run.status.as_str()/>
            </h1>
            <p class="muted">
                "Pipeline "<a href=format!("/pipelines/{}", run.pipeline)>{run.pipeline.clone()}</a>
                " · "<code>{run.repository.clone()}</code>" @ "<code>{run.branch.clone()}</code>
                " · started "{format::timestamp(run.created_at)}
                {retry_of.map(|old| view! { " · retry of "<a href=format!("/runs/{old}")>{format!("run #{old}")}</a> })}
                {(run.kind == RunKind::Rollback).then(|| view! { " · "<span class="env-chip run-kind-rollback">"rollback"</span> })}
            </p>
            <RunActions run=run.clone() deploying allowed=operate gate_shown controls/>
        </div>
        {rollback_why.map(|why| view! { <p class="card rollback-why" role="note">{why}</p> })}
        {recovered.map(|r| view! {
            <p class="card recovered-why" role="note">
                {r.sentence()}
                {(!r.pusher_known()).then_some(" Who pushed is not known, so self-approval is checked against the commits' authors only.")}
            </p>
        })}
        <section class="card commit">
            <h2 class="commit-message">{commit.title().to_owned()}</h2>
            <dl class="facts">
                <dt>"Commit"</dt>
                <dd><a class="sha" href=commit.url.clone() rel="external">{commit.sha.clone()}</a></dd>
                <dt>"Author"</dt><dd>{commit.author.clone()}</dd>
                <dt>"Pushed by"</dt>
                <dd>{if commit.pusher.is_empty() { "not known".to_owned() } else { commit.pusher.clone() }}</dd>
                <dt>"Committed"</dt><dd>{commit.timestamp.clone()}</dd>
                <dt>"Changes"</dt>
                <dd>
                    {(!commit.compare_url.is_empty()).then(|| view! {
                        <a href=commit.compare_url.clone() rel="external">"Compare on GitHub"</a>
                    })}
                </dd>
            </dl>
            {(commits.len() > 1).then(|| view! {
                <details class="pushed-commits" open=true>
                    <summary>{format!("{} commits; only the newest is built and deployed", commits.len())}</summary>
                    <ol>
                        {commits.iter().map(|c| view! {
                            <li><code class="sha">{c.sha.get(..7).unwrap_or(&c.sha).to_owned()}</code>" "{c.title.clone()}
                                <span class="muted">{format!(" · {}", c.author)}</span></li>
                        }).collect_view()}
                    </ol>
                </details>
            })}
        </section>
        <h2 class="section-title">"Timeline"</h2>
        <ol class="timeline" aria-label="Stages">
            {cards.into_iter().map(|(stage, facts)| view! {
                <StageCard stage facts commit_url=commit.url.clone() sha=commit.short_sha().to_owned() controls/>
            }).collect_view()}
        </ol>
        <Messages messages/>
    }
}

/// What Shipgate told the pipeline's notifiers and GitHub about this run, and whether each
/// message got through: a receiver that is down shows here, not as a stuck deploy.
#[component]
fn Messages(messages: Vec<MessageInfo>) -> AnyView {
    (!messages.is_empty()).then(|| {
        let failing = messages.iter().filter(|m| m.state() != "delivered").count();
        view! {
            <section class="card messages" aria-label="Notifications">
                <h2 class="section-title">"Notifications"</h2>
                <p class="muted small">
                    {if failing == 0 {
                        "Everything below was delivered.".to_owned()
                    } else {
                        format!("{failing} not delivered (yet). Failed deliveries are retried with backoff; none of them holds up a deploy.")
                    }}
                </p>
                <table class="table compact">
                    <thead><tr><th>"To"</th><th>"About"</th><th>"Delivery"</th><th>"Attempts"</th><th>"When"</th></tr></thead>
                    <tbody>
                        {messages.into_iter().map(|m| {
                            let state = m.state();
                            let when = m.delivered_at.or(m.gave_up_at).unwrap_or(m.created_at);
                            let next = (state == "retrying").then(|| format!("next try {}", format::timestamp(m.next_attempt_at)));
                            let to = m.channel.strip_prefix("notifier:").map_or_else(|| "GitHub deployment".to_owned(), str::to_owned);
                            let about = match &m.environment {
                                Some(env) => format!("{} · {env}", m.happening.replace('_', " ")),
                                None => m.happening.replace('_', " "),
                            };
                            view! {
                                <tr class="message" data-state=state data-channel=m.channel.clone()>
                                    <td>{to}</td>
                                    <td>{about}</td>
                                    <td>
                                        <span class=format!("badge badge-message-{state}")>{state}</span>
                                        {m.last_error.clone().filter(|_| state != "delivered").map(|e| view! { <div class="muted small message-error">{e}</div> })}
                                        {next.map(|n| view! { <div class="muted small">{n}</div> })}
                                    </td>
                                    <td>{m.attempts}</td>
                                    <td class="nowrap">{format::timestamp(when)}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </section>
        }
    })
    .into_any()
}

/// What the engine recorded for one stage, beyond its status and times.
#[derive(Default)]
struct StageFacts {
    build: Option<BuildInfo>,
    deploy: Option<DeployInfo>,
    decisions: Vec<GateDecision>,
    /// For a gate still waiting: the digest an approval would ship, and what its scan found.
    gate_digest: Option<String>,
    gate_scan: Option<std::collections::BTreeMap<String, i64>>,
    /// What the engine gathered for the gate's decision, once the run reached it.
    brief: Option<GateBrief>,
    /// The stage belongs to a rollback, which deploys without a gate.
    rollback: bool,
    /// For a gate still waiting: where it stands with its policy.
    gate_status: Option<GateStatus>,
    /// For a gate still waiting, if the viewer may decide it: what the forms send.
    gate: Option<GateChoice>,
}

/// What a gate's forms decide on: the run, the environment, the digest shown, and whether
/// this viewer (an admin, during a freeze) is offered the override.
#[derive(Clone)]
struct GateChoice {
    run: i64,
    environment: String,
    digest: Option<String>,
    may_override: bool,
    /// The signed decision link the page was opened with (`?decide=`), if any.
    link: Option<String>,
}

#[component]
fn StageCard(
    stage: StageRecord,
    facts: StageFacts,
    commit_url: String,
    sha: String,
    controls: Controls,
) -> AnyView {
    let name = match (stage.kind, &stage.environment) {
        (StageKind::Deploy, Some(env)) => format!("Deploy · {env}"),
        (kind, _) => {
            let k = kind.as_str();
            let mut name = k[..1].to_uppercase();
            name.push_str(&k[1..]);
            name
        }
    };
    let status = stage.status.as_str();
    let duration = stage.duration_ms().map(format::duration);
    let StageFacts {
        build,
        deploy,
        decisions,
        gate_digest,
        gate_scan,
        brief,
        gate_status,
        gate,
        rollback,
    } = facts;
    // A failed deploy's stage detail is its error, which the deploy's facts already show.
    let repeats = deploy.as_ref().and_then(|d| d.error.as_ref()) == Some(&stage.detail);
    let show_detail = !stage.detail.is_empty() && stage.kind != StageKind::Source && !repeats;
    view! {
        <li class=format!("stage stage-{status}") data-stage=stage.kind.as_str()>
            <div class="stage-head">
                <span class="stage-name">{name}</span>
                <StatusBadge status=status/>
            </div>
            {(stage.kind == StageKind::Source).then(|| view! {
                <p class="stage-detail"><a class="sha" href=commit_url.clone() rel="external">{sha.clone()}</a></p>
            })}
            {stage.promotion.map(|p| view! {
                <p class="stage-detail muted">{match (rollback, p.as_str()) {
                    (true, _) => "Rollback: no approval or freeze holds it",
                    (false, "manual") => "Manual approval",
                    (false, _) => "Automatic promotion",
                }}</p>
            })}
            <dl class="stage-times">
                <dt>"Started"</dt><dd>{stage.started_at.map(format::timestamp).unwrap_or_else(|| "—".into())}</dd>
                <dt>"Finished"</dt><dd>{stage.finished_at.map(format::timestamp).unwrap_or_else(|| "—".into())}</dd>
                <dt>"Duration"</dt><dd>{duration.unwrap_or_else(|| "—".into())}</dd>
            </dl>
            {show_detail.then(|| {
                // A stage that ended on an AWS failure says what it means and what to do.
                let explained = shipgate_pipeline::cloud::explain(&stage.detail, shipgate_pipeline::cloud::Situation::Ended).is_some();
                if explained {
                    view! { <Problem error=stage.detail.clone() outcome=Some("ended".to_owned())/> }.into_any()
                } else {
                    view! { <p class="stage-detail">{stage.detail.clone()}</p> }.into_any()
                }
            })}
            {superseded_by(&stage).map(|newer| view! {
                <p class="stage-detail"><a class="superseded-by" href=format!("/runs/{newer}")>{format!("Go to run #{newer} →")}</a></p>
            })}
            {build.map(|b| view! { <BuildFacts b status=stage.status/> })}
            {gate_digest.map(|d| view! { <p class="stage-detail gate-note">"An approval deploys "<Digest digest=d/></p> })}
            {gate_scan.filter(|_| brief.is_none()).map(|counts| view! { <p class="stage-detail gate-scan">"Scan findings: "<ScanCounts counts/></p> })}
            {brief.map(|b| view! { <Brief b/> })}
            {gate_status.map(|g| view! { <GatePolicy g/> })}
            {gate.map(|choice| view! { <GateForm choice controls/> })}
            {deploy.map(|d| view! { <DeployFacts d/> })}
            {(!decisions.is_empty()).then(|| view! { <GateDecisions decisions/> })}
        </li>
    }
    .into_any()
}

/// What a release manager decides on: the commits since the version live in the
/// environment, and how its task definition changes. Shown while the gate waits, and kept
/// after, as the record of what was decided on.
#[component]
fn Brief(b: GateBrief) -> AnyView {
    let GateBrief {
        environment,
        live,
        commits,
        task_definition,
        scan,
        gathered_at,
    } = b;
    let scan_view = match scan {
        Gathered::Found(counts) => view! { <p class="brief-line gate-scan">"Scan findings: "<ScanCounts counts/></p> }.into_any(),
        Gathered::NotApplicable(why) => view! { <p class="brief-line gate-scan muted">{why}</p> }.into_any(),
        Gathered::Failed(why) => view! { <p class="brief-line gate-scan brief-failed">{format!("The scan result could not be read: {why}")}</p> }.into_any(),
    };
    let commits_view = match commits {
        Gathered::Found(list) => {
            let more = (list.total > list.commits.len() as i64).then(|| format!("GitHub lists {} of {} commits.", list.commits.len(), list.total));
            let count = list.total;
            view! {
                <p class="brief-line">
                    {match count { 0 => "No new commits".to_owned(), 1 => "1 commit".to_owned(), n => format!("{n} commits") }}
                    {live.as_ref().map(|l| format!(" since run #{} ({}), which runs in {environment} now", l.run_id, l.commit_sha.get(..7).unwrap_or(&l.commit_sha)))}
                    " · "<a href=list.url rel="external">"compare on GitHub ↗"</a>
                </p>
                <ol class="brief-commits">
                    {list.commits.into_iter().map(|c| view! {
                        <li class="brief-commit">
                            <a class="sha" href=c.url rel="external">{c.sha.get(..7).unwrap_or(&c.sha).to_owned()}</a>" "
                            <span>{c.title}</span>" "<span class="muted small">{c.author}</span>
                        </li>
                    }).collect_view()}
                </ol>
                {more.map(|m| view! { <p class="muted small">{m}</p> })}
            }
            .into_any()
        }
        Gathered::NotApplicable(why) => view! { <p class="brief-line muted">{why}</p> }.into_any(),
        Gathered::Failed(why) => view! { <p class="brief-line brief-failed">{format!("The commits could not be listed: {why}")}</p> }.into_any(),
    };
    let task_view = match task_definition {
        Gathered::Found(diff) => view! {
            <p class="brief-line">{format!("Against the live revision {}:", diff.live_revision)}</p>
            <table class="table compact brief-diff">
                <thead><tr><th>"Field"</th><th>"Live"</th><th>"After the deploy"</th></tr></thead>
                <tbody>
                    {diff.changes.into_iter().map(|c| view! {
                        <tr class="brief-change">
                            <td>{c.field}</td>
                            <td><code>{c.live.unwrap_or_else(|| "—".into())}</code></td>
                            <td><code>{c.candidate.unwrap_or_else(|| "—".into())}</code></td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            {(!diff.unchanged.is_empty()).then(|| view! {
                <p class="muted small">"Unchanged: "{diff.unchanged.join("; ")}</p>
            })}
        }
        .into_any(),
        Gathered::NotApplicable(why) => view! { <p class="brief-line muted">{why}</p> }.into_any(),
        Gathered::Failed(why) => view! { <p class="brief-line brief-failed">{format!("The task definitions could not be compared: {why}")}</p> }.into_any(),
    };
    view! {
        <section class="brief" aria-label="What changes">
            {scan_view}
            <h3 class="events-title">"Commits"</h3>
            {commits_view}
            <h3 class="events-title">"Task definition"</h3>
            {task_view}
            <p class="muted small">{format!("Gathered {}.", format::timestamp(gathered_at))}</p>
        </section>
    }
    .into_any()
}

/// The Build stage: what CI said, which image ECR holds, and what its scan found.
#[component]
fn BuildFacts(b: BuildInfo, status: StageStatus) -> AnyView {
    let ended = status.is_terminal();
    let succeeded = status == StageStatus::Succeeded;
    let waiting = !ended && b.image_digest.is_none();
    let ci = b.ci_name.clone().map(|name| {
        let status = b.ci_status.clone().unwrap_or_default().replace('_', " ");
        let conclusion = b.ci_conclusion.clone();
        let url = b.ci_url.clone();
        view! {
            <dt>"CI"</dt>
            <dd class="ci">
                <code>{name}</code>" "{status}
                {conclusion.map(|c| view! { " " <StatusBadge status=c/> })}
                {url.map(|u| view! { " " <a class="ci-link" href=u rel="external">"CI run ↗"</a> })}
            </dd>
        }
    });
    let last_error = b.last_error.clone();
    view! {
        <dl class="stage-facts build-facts">
            {ci}
            <dt>"Tag"</dt><dd><code class="image-tag">{b.image_tag.clone()}</code></dd>
            {b.image_digest.clone().map(|d| view! { <dt>"Digest"</dt><dd><Digest digest=d/></dd> })}
            {b.image_size.map(|n| view! { <dt>"Size"</dt><dd class="image-size">{format::bytes(n)}</dd> })}
            {b.image_pushed_at.map(|t| view! { <dt>"Pushed"</dt><dd>{format::timestamp(t)}</dd> })}
            {(b.scan_status.is_some() || b.scan_counts.is_some()).then(|| {
                let status = b.scan_status.clone().unwrap_or_default();
                let counts = b.scan_counts.clone();
                view! {
                    <dt>"Scan"</dt>
                    <dd class="scan">
                        {counts.map(|counts| view! { <ScanCounts counts/> })}
                        {(!status.is_empty() && status != "complete").then(|| view! { <span class="muted">{status.clone()}</span> })}
                    </dd>
                }
            })}
            {waiting.then(|| view! { <dt>"Waits until"</dt><dd>{format::timestamp(b.deadline_at)}</dd> })}
        </dl>
        {last_error.map(|e| if succeeded {
            // Left over from a check that was retried; the build went on.
            view! { <p class="stage-detail muted last-check">"Last check reported: "{e}</p> }.into_any()
        } else {
            view! { <Problem error=e outcome=ended.then(|| "ended".to_owned())/> }.into_any()
        })}
    }
    .into_any()
}

/// A Deploy stage: the target, what was registered and rolled out, and how ECS saw it.
#[component]
fn DeployFacts(d: DeployInfo) -> AnyView {
    let console = d.console_url();
    let digest = d.digest().to_owned();
    let events: Vec<_> = d.events.iter().take(5).cloned().collect();
    let in_progress = d.outcome.is_none();
    let has_counts = d.desired.is_some() || d.running.is_some();
    view! {
        <p class="stage-target">
            <code>{format!("{}/{}", d.cluster, d.service)}</code>" · "<span>{d.region.clone()}</span>
        </p>
        <dl class="stage-facts deploy-facts">
            <dt>"Image"</dt><dd><Digest digest=digest full=d.image.clone()/></dd>
            <dt>"Container"</dt><dd><code>{d.container.clone()}</code></dd>
            {(d.previous_task_definition.is_some() || d.task_definition.is_some()).then(|| view! {
                <dt>"Task def."</dt>
                <dd class="task-definitions">
                    {d.previous_task_definition.clone().map(|p| view! { <TaskDefinition arn=p/>" → " })}
                    {match d.task_definition.clone() {
                        Some(t) => view! { <TaskDefinition arn=t/> }.into_any(),
                        None => view! { <span class="muted">"registering…"</span> }.into_any(),
                    }}
                </dd>
            })}
            {d.deployment_id.clone().map(|id| {
                // `ecs-svc/1234…`: let a narrow card break the line after the slash.
                let (head, tail) = match id.split_once('/') {
                    Some((h, t)) => (format!("{h}/"), t.to_owned()),
                    None => (String::new(), id.clone()),
                };
                view! { <dt>"Deployment"</dt><dd><code class="deployment-id" title=id>{head}<wbr/>{tail}</code></dd> }
            })}
            {if in_progress {
                view! { <dt>"Step"</dt><dd>{d.step.replace('_', " ")}</dd> }.into_any()
            } else {
                view! { <dt>"Outcome"</dt><dd><StatusBadge status=d.outcome.clone().unwrap_or_default()/></dd> }.into_any()
            }}
        </dl>
        {has_counts.then(|| view! { <TaskCounts running=d.running desired=d.desired pending=d.pending failed=d.failed/> })}
        {d.error.clone().map(|e| view! { <Problem error=e outcome=d.outcome.clone()/> })}
        {(!events.is_empty()).then(|| view! {
            <div class="events">
                <h3 class="events-title">"ECS service events"</h3>
                <ol class="event-list">
                    {events.into_iter().map(|e| view! {
                        <li><span class="event-time" title=format::timestamp(e.at)>{format::time_of_day(e.at)}</span>" "<span class="event-message">{e.message}</span></li>
                    }).collect_view()}
                </ol>
            </div>
        })}
        <p class="console"><a class="console-link" href=console rel="external">"Open in ECS console ↗"</a></p>
    }
    .into_any()
}

/// Who decided at an environment's gate, when, and about which digest.
#[component]
fn GateDecisions(decisions: Vec<GateDecision>) -> AnyView {
    view! {
        <div class="decisions">
            <h3 class="events-title">"Gate"</h3>
            <ul class="decision-list">
                {decisions.into_iter().map(|g| view! {
                    <li class=format!("decision decision-{}", g.decision)>
                        <StatusBadge status=g.decision.clone()/>" by "<strong class="actor" title=g.actor.clone()>{g.who().to_owned()}</strong>
                        <span class="muted">{format!(" · {}", format::timestamp(g.at))}</span>
                        {(!g.comment.is_empty()).then(|| view! { <q class="decision-comment">{g.comment.clone()}</q> })}
                        {g.image_digest.clone().map(|d| view! { <span class="decision-digest">"for "<Digest digest=d/></span> })}
                    </li>
                }).collect_view()}
            </ul>
        </div>
    }
    .into_any()
}
