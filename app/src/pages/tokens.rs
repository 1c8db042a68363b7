//! API tokens, for admins: what exists, who made it, what it may do; make one, revoke one.

use crate::admin::{CreateToken, RevokeToken, TokenList, list_tokens, take_created_token};
use crate::format;
use crate::widgets::{ChangeError, LoadError, Loading, NoAccess, is_refusal};
use leptos::prelude::*;
use leptos_meta::Title;
use shipgate_pipeline::Role;
use shipgate_pipeline::access::{MAX_TOKEN_DAYS, MAX_TOKEN_NAME};
use shipgate_pipeline::read::{CreatedToken, Millis, TokenRecord};

#[component]
pub fn TokensPage() -> impl IntoView {
    // Made outside the part that reloads, so a change's result survives the reload it causes.
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_tokens(),
    );
    // After a form post without JavaScript, the new token comes back once through a cookie.
    let kept = Resource::new(|| (), |_| take_created_token());
    view! {
        <Title text="API tokens"/>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                let kept = kept.await.ok().flatten();
                match tokens.await {
                    Err(e) if is_refusal(&e) => view! { <NoAccess need=Role::Admin/> }.into_any(),
                    Err(e) => view! { <LoadError message=e.to_string()/> }.into_any(),
                    Ok(list) => view! { <TokensView list kept create revoke/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn TokensView(
    list: TokenList,
    kept: Option<CreatedToken>,
    create: ServerAction<CreateToken>,
    revoke: ServerAction<RevokeToken>,
) -> impl IntoView {
    let TokenList { tokens, now } = list;
    // The token just made: from the create call's answer, or (without JavaScript) as kept;
    // no longer once it was revoked.
    let live: Vec<i64> = tokens
        .iter()
        .filter(|t| t.is_live(now))
        .map(|t| t.id)
        .collect();
    let created = move || {
        let created = match create.value().get() {
            Some(Ok(created)) => Some(created),
            _ => kept.clone(),
        };
        created.filter(|c| live.contains(&c.token_record.id))
    };
    view! {
        <div class="page-head">
            <div>
                <h1>"API tokens"</h1>
                <p class="muted">
                    "Automation calls the REST API with "<code>"Authorization: Bearer sgp_…"</code>
                    ". Shipgate keeps only a hash of each token: a lost token cannot be shown again, only revoked and replaced."
                </p>
            </div>
        </div>
        {move || created().map(|c| view! { <NewToken created=c/> })}
        <TokenForm create/>
        <h2 class="section-title">"Tokens"</h2>
        {if tokens.is_empty() {
            view! { <section class="empty"><h2>"No tokens yet"</h2><p>"Tokens made with the form above, or with "<code>"POST /api/v1/tokens"</code>", are listed here."</p></section> }.into_any()
        } else {
            view! {
                <table class="table tokens">
                    <thead>
                        <tr>
                            <th>"Name"</th><th>"Kind"</th><th>"Grant"</th><th>"Prefix"</th><th>"Created"</th>
                            <th>"Expires"</th><th>"Last used"</th><th>"State"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {tokens.into_iter().map(|token| view! { <TokenRow token now revoke/> }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
        <ChangeError action=revoke/>
    }
}

/// The one time a token is shown.
#[component]
fn NewToken(created: CreatedToken) -> impl IntoView {
    view! {
        <section class="new-token" role="status" aria-live="polite">
            <h2>{format!("Token “{}” created", created.token_record.name)}</h2>
            <p><strong>"Copy it now; it will not be shown again."</strong>" Shipgate keeps only its hash."</p>
            <code class="token-secret">{created.token}</code>
            <p class="muted small">{format!("It acts as {}.", created.token_record.grant)}</p>
        </section>
    }
}

#[component]
fn TokenForm(create: ServerAction<CreateToken>) -> impl IntoView {
    view! {
        <section class="token-create card">
            <h2>"New token"</h2>
            <ActionForm action=create>
                <div class="form-grid">
                    <label>"Name"<input type="text" name="name" class="action-input" required=true maxlength=MAX_TOKEN_NAME.to_string() placeholder="ci-deployer"/></label>
                    <label>
                        "Kind"
                        <select name="kind">
                            <option value="service" selected=true>"service (for a system)"</option>
                            <option value="personal">"personal (acts for its owner)"</option>
                        </select>
                    </label>
                    <label>"Owner"<input type="email" name="owner" class="action-input" placeholder="personal tokens: alice@example.com"/></label>
                    <label>
                        "Role"
                        <select name="role">
                            {Role::ALL.into_iter().map(|role| view! { <option value=role.as_str()>{role.as_str()}</option> }).collect_view()}
                        </select>
                    </label>
                    <label>"Pipelines"<input type="text" name="pipelines" class="action-input" placeholder="all; or payments, billing"/></label>
                    <label>"Environments"<input type="text" name="environments" class="action-input" placeholder="all; or production"/></label>
                    <label>
                        "Expires in days"
                        <input type="number" name="expires_in_days" class="action-input" min="1" max=MAX_TOKEN_DAYS.to_string() placeholder="never"/>
                    </label>
                </div>
                <p class="muted small">"Pipelines and environments limit deployer and release-manager tokens; a deployer can be limited to pipelines only."</p>
                <button type="submit" class="button">"Create token"</button>
            </ActionForm>
            <ChangeError action=create/>
        </section>
    }
}

#[component]
fn TokenRow(token: TokenRecord, now: Millis, revoke: ServerAction<RevokeToken>) -> impl IntoView {
    let live = token.is_live(now);
    let kind = match &token.owner {
        Some(owner) => format!("{} · {owner}", token.kind),
        None => token.kind.clone(),
    };
    let expires = match token.expires_at {
        None => "never".to_owned(),
        Some(at) if at <= now => format!("expired {}", format::timestamp(at)),
        Some(at) => format::timestamp(at),
    };
    let revoke_label = format!("Revoke {}", token.name);
    let state = match (token.revoked_at, live) {
        (Some(at), _) => view! {
            <span class="badge badge-revoked">"revoked"</span>
            <span class="muted small token-revoked-by">{format!(" {} by {}", format::timestamp(at), token.revoked_by.clone().unwrap_or_default())}</span>
        }
        .into_any(),
        (None, false) => view! { <span class="badge badge-expired">"expired"</span> }.into_any(),
        (None, true) => view! {
            <ActionForm action=revoke>
                <input type="hidden" name="id" value=token.id.to_string()/>
                <button type="submit" class="button button-danger" aria-label=revoke_label>"Revoke"</button>
            </ActionForm>
        }
        .into_any(),
    };
    view! {
        <tr class=if live { "token-row" } else { "token-row token-dead" } data-token-id=token.id>
            <td class="token-name">{token.name.clone()}</td>
            <td>{kind}</td>
            <td>{token.grant.to_string()}</td>
            <td><code>{format!("{}…", token.prefix)}</code></td>
            <td class="nowrap">{format::timestamp(token.created_at)}<br/><span class="muted small">{format!("by {}", token.created_by)}</span></td>
            <td class="nowrap">{expires}</td>
            <td class="nowrap">{token.last_used_at.map_or_else(|| "never".to_owned(), format::timestamp)}</td>
            <td class="token-state">{state}</td>
        </tr>
    }
}
