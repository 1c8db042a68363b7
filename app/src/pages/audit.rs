//! The audit log, for admins: who did what to which object, from where, filterable.

use crate::admin::list_audit;
use crate::format;
use crate::widgets::{LoadError, Loading, NoAccess, Pager, is_refusal};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use shipgate_pipeline::Role;
use shipgate_pipeline::read::AuditRecord;

/// The filters as the page's URL carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Filter {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    before: Option<i64>,
}

impl Filter {
    /// The audit page's URL for these filters, starting `before` (`None`: the newest).
    fn href(&self, before: Option<i64>) -> String {
        let mut query = form_urlencoded_pairs(&[
            ("actor", &self.actor),
            ("action", &self.action),
            ("target", &self.target),
        ]);
        if let Some(b) = before {
            query.push(format!("before={b}"));
        }
        if query.is_empty() {
            "/admin/audit".to_owned()
        } else {
            format!("/admin/audit?{}", query.join("&"))
        }
    }
}

/// `key=value` pairs, encoded as a browser encodes a GET form.
fn form_urlencoded_pairs(pairs: &[(&str, &Option<String>)]) -> Vec<String> {
    let encode = |v: &str| {
        v.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                other => format!("%{other:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| format!("{k}={}", encode(v))))
        .collect()
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| {
        let q = query.read();
        let text = |k: &str| {
            q.get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Filter {
            actor: text("actor"),
            action: text("action"),
            target: text("target"),
            before: q.get("before").and_then(|b| b.parse().ok()),
        }
    });
    let entries = Resource::new(
        move || filter.get(),
        |f| list_audit(f.actor, f.action, f.target, f.before),
    );
    let value = move |k: &'static str| move || query.read().get(k).unwrap_or_default();
    view! {
        <Title text="Audit log"/>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match entries.await {
                    Err(e) if is_refusal(&e) => view! { <NoAccess need=Role::Admin/> }.into_any(),
                    Err(e) => view! { <LoadError message=e.to_string()/> }.into_any(),
                    Ok(page) => {
                        let filter = filter.get_untracked();
                        let older = page.next.map(|n| filter.href(Some(n)));
                        let newest = filter.before.map(|_| filter.href(None));
                        view! {
                            <div class="page-head">
                                <div>
                                    <h1>"Audit log"</h1>
                                    <p class="muted">"Sign-ins, role changes, tokens, pipeline changes, gate decisions and run operations, newest first. Nothing here can be edited or deleted."</p>
                                </div>
                                <form class="filters" method="get" action="/admin/audit">
                                    <label>"Actor "<input name="actor" class="action-input" placeholder="user:alice@example.com" value=value("actor")/></label>
                                    <label>"Action "<input name="action" class="action-input" placeholder="sign-in, or gate. for a prefix" value=value("action")/></label>
                                    <label>"Target "<input name="target" class="action-input" placeholder="run:42/production" value=value("target")/></label>
                                    <button type="submit" class="button">"Filter"</button>
                                    <a class="button button-quiet" href="/admin/audit">"Clear"</a>
                                </form>
                            </div>
                            {if page.items.is_empty() {
                                view! { <section class="empty"><h2>"Nothing matches"</h2><p>"No audit entry matches this filter."</p></section> }.into_any()
                            } else {
                                view! {
                                    <table class="table audit">
                                        <thead><tr><th>"Time"</th><th>"Actor"</th><th>"Action"</th><th>"Target"</th><th>"IP"</th><th>"Detail"</th></tr></thead>
                                        <tbody>{page.items.into_iter().map(|entry| view! { <AuditRow entry/> }).collect_view()}</tbody>
                                    </table>
                                }.into_any()
                            }}
                            <Pager newest older/>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn AuditRow(entry: AuditRecord) -> impl IntoView {
    view! {
        <tr class="audit-row" data-audit-id=entry.id>
            <td class="nowrap">{format::timestamp(entry.at)}</td>
            // The name people read; the id below it is what the Actor filter takes.
            <td>
                <span class="actor-name">{entry.actor_name.clone()}</span>
                {(entry.actor_name != entry.actor).then(|| view! { <br/><code class="muted">{entry.actor}</code> })}
            </td>
            <td><code class="audit-action">{entry.action}</code></td>
            <td><code>{entry.target}</code></td>
            <td>{entry.ip.unwrap_or_default()}</td>
            <td class="reason">{entry.detail}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_keep_the_filters_encoded_as_a_form_would() {
        let filter = Filter {
            actor: Some("user:a+b@example.com".into()),
            action: Some("gate.".into()),
            target: None,
            before: Some(9),
        };
        assert_eq!(
            filter.href(Some(3)),
            "/admin/audit?actor=user%3Aa%2Bb%40example.com&action=gate.&before=3"
        );
        assert_eq!(
            filter.href(None),
            "/admin/audit?actor=user%3Aa%2Bb%40example.com&action=gate."
        );
        assert_eq!(Filter::default().href(None), "/admin/audit");
        let spaced = Filter {
            target: Some("run:1 & more#x".into()),
            ..Filter::default()
        };
        assert_eq!(
            spaced.href(None),
            "/admin/audit?target=run%3A1+%26+more%23x"
        );
    }
}
