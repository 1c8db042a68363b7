//! Who may do what. Pure rules, shared by the server (which enforces them on every request)
//! and the dashboard (which only uses them to decide which buttons to draw).
//!
//! Roles are ranked: each one may do everything the roles below it may. Viewing is never
//! scoped: anyone with any grant sees every pipeline. A grant's scope limits the role's
//! *powers* (operating runs, deciding gates) to some pipelines and environments, which is
//! how a release manager can be trusted with `production` of `payments` and nothing else.

use crate::field::{FieldError, InvalidSpec};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Sees everything except secrets.
    Viewer,
    /// Also retries and cancels runs.
    Deployer,
    /// Also approves and rejects approval gates.
    ReleaseManager,
    /// Also manages pipelines, settings, API tokens, and reads the audit log.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Viewer,
        Role::Deployer,
        Role::ReleaseManager,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Deployer => "deployer",
            Role::ReleaseManager => "release-manager",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a role; expected viewer, deployer, release-manager or admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// Where a grant's powers apply. An empty list means "every one".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pipelines: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<String>,
}

impl Scope {
    pub fn everywhere() -> Scope {
        Scope::default()
    }

    pub fn is_everywhere(&self) -> bool {
        self.pipelines.is_empty() && self.environments.is_empty()
    }

    /// Whether the scope reaches `pipeline` (and `environment`, when the action is about one).
    /// An action on a whole run (no environment) needs a scope that is not limited to some
    /// environments, since the run may go on to the others.
    pub fn covers(&self, pipeline: &str, environment: Option<&str>) -> bool {
        let pipeline_ok = self.pipelines.is_empty() || self.pipelines.iter().any(|p| p == pipeline);
        let environment_ok = match environment {
            Some(env) => self.environments.is_empty() || self.environments.iter().any(|e| e == env),
            None => self.environments.is_empty(),
        };
        pipeline_ok && environment_ok
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_everywhere() {
            return f.write_str("everywhere");
        }
        let list = |items: &[String]| {
            if items.is_empty() {
                "any".to_owned()
            } else {
                items.join(", ")
            }
        };
        write!(
            f,
            "pipelines: {}; environments: {}",
            list(&self.pipelines),
            list(&self.environments)
        )
    }
}

/// One role, over one scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub role: Role,
    #[serde(default, skip_serializing_if = "Scope::is_everywhere")]
    pub scope: Scope,
}

impl Grant {
    pub fn everywhere(role: Role) -> Grant {
        Grant {
            role,
            scope: Scope::everywhere(),
        }
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scope.is_everywhere() {
            write!(f, "{}", self.role)
        } else {
            write!(f, "{} ({})", self.role, self.scope)
        }
    }
}

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrincipalKind {
    /// Signed in through the OpenID provider; holds a session cookie.
    User,
    /// Presented an API token (`Authorization: Bearer …`).
    Token,
    /// Local single-user mode: no provider is configured, so whoever reaches the port is admin.
    Local,
}

/// Who is asking, with what they were granted. Built once per request by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Stable, for the audit log: `user:<email or subject>`, `token:<id>:<name>`, `local`.
    pub id: String,
    /// For people to read.
    pub name: String,
    pub kind: PrincipalKind,
    pub grants: Vec<Grant>,
    /// The API token the request came with, if it did. The audit log names the person (a
    /// personal token's owner) as the actor and this as how they acted, so an owner's own
    /// actions and their automation's are found under one name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<TokenRef>,
}

/// An API token, as the audit log names it: its id (to revoke it) and its name (to read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRef {
    pub id: i64,
    pub name: String,
}

impl fmt::Display for TokenRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token {}", self.name)
    }
}

/// Something a caller may or may not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Read any page or endpoint that holds no secret.
    View,
    /// Retry or cancel a run of a pipeline.
    OperateRun { pipeline: &'a str },
    /// Approve or reject the gate of one environment.
    DecideGate {
        pipeline: &'a str,
        environment: &'a str,
    },
    /// Manage pipelines, settings and tokens; read the audit log.
    Administer,
}

impl Action<'_> {
    /// The lowest role that can ever do this (scope aside).
    pub fn least_role(&self) -> Role {
        match self {
            Action::View => Role::Viewer,
            Action::OperateRun { .. } => Role::Deployer,
            Action::DecideGate { .. } => Role::ReleaseManager,
            Action::Administer => Role::Admin,
        }
    }
}

impl Principal {
    /// The local single user of a Shipgate with no identity provider.
    pub fn local() -> Principal {
        Principal {
            id: "local".into(),
            name: "local user".into(),
            kind: PrincipalKind::Local,
            grants: vec![Grant::everywhere(Role::Admin)],
            via: None,
        }
    }

    pub fn may(&self, action: &Action<'_>) -> bool {
        let least = action.least_role();
        self.grants
            .iter()
            .filter(|g| g.role >= least)
            .any(|g| match action {
                Action::View => true,
                Action::OperateRun { pipeline } => g.scope.covers(pipeline, None),
                Action::DecideGate {
                    pipeline,
                    environment,
                } => g.scope.covers(pipeline, Some(environment)),
                // Administration is not scoped: an admin grant limited to some pipelines would
                // still manage tokens and settings for all of them.
                Action::Administer => g.scope.is_everywhere(),
            })
    }

    /// The highest role held anywhere, for display.
    pub fn top_role(&self) -> Option<Role> {
        self.grants.iter().map(|g| g.role).max()
    }
}

/// Who a `[[auth.grant]]` rule is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSubject {
    /// One verified email address (case-insensitive).
    Email(String),
    /// Every verified email address at a domain (case-insensitive, exact domain).
    Domain(String),
    /// Everyone whose groups claim holds this value (exact).
    Group(String),
}

/// A role mapping from configuration: who gets which role where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRule {
    pub subject: RuleSubject,
    pub grant: Grant,
}

/// What the identity provider said about a person, as far as roles are concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub email: Option<String>,
    /// Unverified addresses match no email or domain rule: anyone can type any address
    /// into some providers' sign-up forms.
    pub email_verified: bool,
    pub groups: Vec<String>,
}

impl RuleSubject {
    fn matches(&self, who: &Identity) -> bool {
        let verified_email = who.email.as_deref().filter(|_| who.email_verified);
        match self {
            RuleSubject::Email(email) => {
                verified_email.is_some_and(|e| e.eq_ignore_ascii_case(email))
            }
            RuleSubject::Domain(domain) => verified_email
                .and_then(|e| e.rsplit_once('@'))
                .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain.trim_start_matches('@'))),
            RuleSubject::Group(group) => who.groups.iter().any(|g| g == group),
        }
    }
}

/// Every grant the rules give this identity, without duplicates, in rule order. An empty
/// result means the person is not allowed in at all.
pub fn grants_for(rules: &[RoleRule], who: &Identity) -> Vec<Grant> {
    let mut grants: Vec<Grant> = Vec::new();
    for rule in rules.iter().filter(|r| r.subject.matches(who)) {
        if !grants.contains(&rule.grant) {
            grants.push(rule.grant.clone());
        }
    }
    grants
}

/// Describes a set of grants in one line, for the audit log and the header.
pub fn describe(grants: &[Grant]) -> String {
    if grants.is_empty() {
        return "no access".into();
    }
    grants
        .iter()
        .map(|g| g.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The two kinds of API token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenKind {
    /// Acts for one person (its `owner`), e.g. their scripts; the audit log names them.
    Personal,
    /// Acts for a system (CI, a bot) and belongs to nobody.
    Service,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Personal => "personal",
            TokenKind::Service => "service",
        }
    }
}

/// The longest token name, and the longest a token may live.
pub const MAX_TOKEN_NAME: usize = 64;
pub const MAX_TOKEN_DAYS: i64 = 3650;

/// A token as requested through the REST API. Every field is optional here so that each
/// problem is reported by its field's name, all at once; unknown fields are refused, so a
/// misspelt `pipelines` cannot silently leave a token unscoped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenDraft {
    pub name: Option<String>,
    /// `personal` or `service` (the default).
    pub kind: Option<String>,
    /// A personal token's owner: an email address.
    pub owner: Option<String>,
    pub role: Option<String>,
    #[serde(default)]
    pub pipelines: Vec<String>,
    #[serde(default)]
    pub environments: Vec<String>,
    /// None: the token never expires.
    pub expires_in_days: Option<i64>,
}

/// The dashboard's token form, field for field: what a browser posts, all text, the lists
/// comma-separated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenForm {
    pub name: String,
    pub kind: String,
    pub owner: String,
    pub role: String,
    pub pipelines: String,
    pub environments: String,
    pub expires_in_days: String,
}

/// A token request that passed every check: what the store needs, but the secret and the
/// clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpec {
    pub name: String,
    pub kind: TokenKind,
    pub owner: Option<String>,
    pub grant: Grant,
    pub expires_in_days: Option<i64>,
}

/// Enough of an email address to be one: no spaces, one `@`, a dot in the domain.
fn check_email(s: &str) -> Result<(), String> {
    let ok = s.len() <= 254
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && s.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("`{s}` is not an email address"))
    }
}

impl TokenDraft {
    pub fn validate(&self) -> Result<TokenSpec, InvalidSpec> {
        let mut errors = Vec::new();
        let mut fail = |field: &str, message: String| {
            errors.push(FieldError {
                field: field.to_owned(),
                message,
            })
        };

        let name = self
            .name
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_owned();
        match self.name.as_deref() {
            None => fail("name", "is required".into()),
            Some(_) if name.is_empty() => fail("name", "must not be empty".into()),
            Some(_) if name.chars().count() > MAX_TOKEN_NAME => fail(
                "name",
                format!(
                    "is {} characters long; at most {MAX_TOKEN_NAME} are allowed",
                    name.chars().count()
                ),
            ),
            Some(_) if name.chars().any(char::is_control) => {
                fail("name", "must not contain control characters".into())
            }
            Some(_) => {}
        }

        let kind = match self.kind.as_deref().map(str::trim) {
            None | Some("") | Some("service") => TokenKind::Service,
            Some("personal") => TokenKind::Personal,
            Some(other) => {
                fail(
                    "kind",
                    format!("`{other}` is not a kind of token; expected personal or service"),
                );
                TokenKind::Service
            }
        };
        let owner = self
            .owner
            .as_deref()
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned);
        match (kind, &owner) {
            (TokenKind::Personal, None) => fail(
                "owner",
                "is required for a personal token: its owner's email address".into(),
            ),
            (TokenKind::Personal, Some(email)) => {
                if let Err(message) = check_email(email) {
                    fail("owner", message);
                }
            }
            (TokenKind::Service, Some(_)) => fail(
                "owner",
                "only a personal token has an owner; leave it out for a service token".into(),
            ),
            (TokenKind::Service, None) => {}
        }

        let role = match self.role.as_deref().map(str::trim) {
            None | Some("") => {
                fail(
                    "role",
                    "is required: viewer, deployer, release-manager or admin".into(),
                );
                None
            }
            Some(text) => match text.parse::<Role>() {
                Ok(role) => Some(role),
                Err(e) => {
                    fail("role", e.to_string());
                    None
                }
            },
        };

        let mut scope = Scope::everywhere();
        for (field, given, list) in [
            ("pipelines", &self.pipelines, &mut scope.pipelines),
            ("environments", &self.environments, &mut scope.environments),
        ] {
            for (i, item) in given.iter().enumerate() {
                let item = item.trim();
                if let Err(message) = crate::field::check_slug(item) {
                    fail(&format!("{field}[{i}]"), message);
                } else if !list.iter().any(|known| known == item) {
                    list.push(item.to_owned());
                }
            }
        }
        match role {
            // Viewing is never scoped, and administration never is either (see `Principal::may`).
            Some(role @ (Role::Viewer | Role::Admin)) => {
                for (field, list) in [("pipelines", &scope.pipelines), ("environments", &scope.environments)] {
                    if !list.is_empty() {
                        fail(field, format!("a {role} token cannot be limited; only deployer and release-manager tokens can"));
                    }
                }
            }
            // A deployer operates whole runs, and a run goes through every environment: one
            // limited to environments could never operate anything.
            Some(Role::Deployer) if !scope.environments.is_empty() => {
                fail("environments", "a deployer token operates whole runs, so it cannot be limited to environments; limit it to pipelines".into())
            }
            _ => {}
        }

        if let Some(days) = self
            .expires_in_days
            .filter(|d| !(1..=MAX_TOKEN_DAYS).contains(d))
        {
            fail(
                "expires_in_days",
                format!(
                    "{days} is not between 1 and {MAX_TOKEN_DAYS}; leave it out for a token that does not expire"
                ),
            );
        }

        match role {
            Some(role) if errors.is_empty() => Ok(TokenSpec {
                name,
                kind,
                owner,
                grant: Grant { role, scope },
                expires_in_days: self.expires_in_days,
            }),
            _ => Err(InvalidSpec { errors }),
        }
    }
}

impl TokenForm {
    /// Reads the form as a [`TokenDraft`] and checks it: the same rules as the REST API, and
    /// a number of days that is not a number is one more problem, named like the others.
    pub fn validate(&self) -> Result<TokenSpec, InvalidSpec> {
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let list = |s: &str| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let days = match text(&self.expires_in_days) {
            None => Ok(None),
            Some(days) => days.parse::<i64>().map(Some).map_err(|_| FieldError {
                field: "expires_in_days".into(),
                message: format!("`{days}` is not a whole number of days"),
            }),
        };
        let draft = TokenDraft {
            name: Some(self.name.clone()),
            kind: text(&self.kind),
            owner: text(&self.owner),
            role: text(&self.role),
            pipelines: list(&self.pipelines),
            environments: list(&self.environments),
            expires_in_days: days.clone().unwrap_or(None),
        };
        match (draft.validate(), days) {
            (checked, Ok(_)) => checked,
            (Ok(_), Err(e)) => Err(InvalidSpec { errors: vec![e] }),
            (Err(mut invalid), Err(e)) => {
                invalid.errors.push(e);
                Err(invalid)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scoped(role: Role, pipelines: &[&str], environments: &[&str]) -> Grant {
        Grant {
            role,
            scope: Scope {
                pipelines: pipelines.iter().map(|s| s.to_string()).collect(),
                environments: environments.iter().map(|s| s.to_string()).collect(),
            },
        }
    }

    fn principal(grants: Vec<Grant>) -> Principal {
        Principal {
            id: "user:t".into(),
            name: "t".into(),
            kind: PrincipalKind::User,
            grants,
            via: None,
        }
    }

    #[test]
    fn each_role_may_do_what_its_rank_allows() {
        let actions = [
            Action::View,
            Action::OperateRun {
                pipeline: "payments",
            },
            Action::DecideGate {
                pipeline: "payments",
                environment: "production",
            },
            Action::Administer,
        ];
        // Rows: role; columns: the actions above.
        let table = [
            (Role::Viewer, [true, false, false, false]),
            (Role::Deployer, [true, true, false, false]),
            (Role::ReleaseManager, [true, true, true, false]),
            (Role::Admin, [true, true, true, true]),
        ];
        for (role, expected) in table {
            let who = principal(vec![Grant::everywhere(role)]);
            for (action, want) in actions.iter().zip(expected) {
                assert_eq!(who.may(action), want, "{role} {action:?}");
            }
        }
        assert!(!principal(vec![]).may(&Action::View), "no grant, no access");
    }

    #[test]
    fn a_scoped_release_manager_decides_only_inside_the_scope() {
        let who = principal(vec![scoped(
            Role::ReleaseManager,
            &["payments"],
            &["production"],
        )]);
        let cases = [
            (
                Action::DecideGate {
                    pipeline: "payments",
                    environment: "production",
                },
                true,
            ),
            (
                Action::DecideGate {
                    pipeline: "payments",
                    environment: "staging",
                },
                false,
            ),
            (
                Action::DecideGate {
                    pipeline: "billing",
                    environment: "production",
                },
                false,
            ),
            // A run of payments may go on to other environments: an environment-limited
            // grant does not cover operating the whole run.
            (
                Action::OperateRun {
                    pipeline: "payments",
                },
                false,
            ),
            (Action::View, true),
            (Action::Administer, false),
        ];
        for (action, want) in cases {
            assert_eq!(who.may(&action), want, "{action:?}");
        }
        let pipeline_only = principal(vec![scoped(Role::ReleaseManager, &["payments"], &[])]);
        assert!(pipeline_only.may(&Action::OperateRun {
            pipeline: "payments"
        }));
        assert!(pipeline_only.may(&Action::DecideGate {
            pipeline: "payments",
            environment: "staging"
        }));
        assert!(!pipeline_only.may(&Action::OperateRun {
            pipeline: "billing"
        }));
    }

    #[test]
    fn grants_add_up_and_a_scoped_admin_cannot_administer() {
        let who = principal(vec![
            Grant::everywhere(Role::Viewer),
            scoped(Role::ReleaseManager, &["payments"], &[]),
        ]);
        assert!(who.may(&Action::DecideGate {
            pipeline: "payments",
            environment: "production"
        }));
        assert!(!who.may(&Action::DecideGate {
            pipeline: "billing",
            environment: "production"
        }));
        assert_eq!(who.top_role(), Some(Role::ReleaseManager));
        assert!(!principal(vec![scoped(Role::Admin, &["payments"], &[])]).may(&Action::Administer));
        assert!(Principal::local().may(&Action::Administer));
    }

    #[test]
    fn rules_map_verified_emails_domains_and_groups_to_grants() {
        let rule = |subject, role| RoleRule {
            subject,
            grant: Grant::everywhere(role),
        };
        let rules = vec![
            rule(RuleSubject::Domain("example.com".into()), Role::Viewer),
            rule(
                RuleSubject::Group("release-managers".into()),
                Role::ReleaseManager,
            ),
            rule(RuleSubject::Email("Root@Example.com".into()), Role::Admin),
            rule(RuleSubject::Group("developers".into()), Role::Viewer),
        ];
        let who = |email: &str, verified: bool, groups: &[&str]| Identity {
            email: Some(email.into()),
            email_verified: verified,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        let roles = |id: &Identity| {
            grants_for(&rules, id)
                .into_iter()
                .map(|g| g.role)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            roles(&who("alice@example.com", true, &["release-managers"])),
            [Role::Viewer, Role::ReleaseManager]
        );
        assert_eq!(
            roles(&who("root@EXAMPLE.com", true, &[])),
            [Role::Viewer, Role::Admin]
        );
        // Two rules giving the same grant give it once.
        assert_eq!(
            roles(&who("bob@example.com", true, &["developers"])),
            [Role::Viewer]
        );
        // Unverified: the address matches nothing, the groups still do.
        assert_eq!(roles(&who("root@example.com", false, &[])), []);
        assert_eq!(
            roles(&who("eve@evil.test", false, &["developers"])),
            [Role::Viewer]
        );
        // A look-alike domain is not the domain.
        assert_eq!(roles(&who("mallory@notexample.com", true, &[])), []);
        assert_eq!(roles(&who("mallory@example.com.evil.test", true, &[])), []);
    }

    #[test]
    fn roles_read_and_print_by_their_config_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!(
            "owner"
                .parse::<Role>()
                .unwrap_err()
                .to_string()
                .contains("`owner` is not a role")
        );
        assert_eq!(
            describe(&[scoped(Role::ReleaseManager, &["payments"], &["production"])]),
            "release-manager (pipelines: payments; environments: production)"
        );
    }
    fn fields(result: Result<TokenSpec, InvalidSpec>) -> Vec<String> {
        result
            .expect_err("the draft is refused")
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    fn draft(role: &str) -> TokenDraft {
        TokenDraft {
            name: Some("ci".into()),
            role: Some(role.into()),
            ..TokenDraft::default()
        }
    }

    #[test]
    fn a_token_draft_is_refused_field_by_field_all_at_once() {
        let bad = TokenDraft {
            name: Some("x".repeat(MAX_TOKEN_NAME + 1)),
            kind: Some("robot".into()),
            role: Some("owner".into()),
            pipelines: vec!["Pay Ments".into()],
            expires_in_days: Some(0),
            ..TokenDraft::default()
        };
        assert_eq!(
            fields(bad.validate()),
            ["name", "kind", "role", "pipelines[0]", "expires_in_days"]
        );
        assert_eq!(fields(TokenDraft::default().validate()), ["name", "role"]);
        assert_eq!(
            fields(
                TokenDraft {
                    name: Some("  ".into()),
                    ..draft("viewer")
                }
                .validate()
            ),
            ["name"]
        );
        assert_eq!(
            fields(
                TokenDraft {
                    expires_in_days: Some(MAX_TOKEN_DAYS + 1),
                    ..draft("viewer")
                }
                .validate()
            ),
            ["expires_in_days"]
        );
        let refused = TokenDraft {
            role: Some("owner".into()),
            ..draft("")
        }
        .validate()
        .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "role: `owner` is not a role; expected viewer, deployer, release-manager or admin"
        );
    }

    #[test]
    fn a_personal_token_needs_its_owners_email_and_a_service_token_has_no_owner() {
        let personal = |owner: Option<&str>| TokenDraft {
            kind: Some("personal".into()),
            owner: owner.map(String::from),
            ..draft("deployer")
        };
        assert_eq!(fields(personal(None).validate()), ["owner"]);
        assert_eq!(fields(personal(Some("  ")).validate()), ["owner"]);
        for not_email in [
            "alice",
            "alice@",
            "@example.com",
            "alice@localhost",
            "a b@example.com",
            "a@b@example.com",
        ] {
            assert_eq!(
                fields(personal(Some(not_email)).validate()),
                ["owner"],
                "{not_email}"
            );
        }
        let spec = personal(Some(" alice@example.com ")).validate().unwrap();
        assert_eq!(
            (spec.kind, spec.owner.as_deref()),
            (TokenKind::Personal, Some("alice@example.com"))
        );
        assert_eq!(
            fields(
                TokenDraft {
                    owner: Some("alice@example.com".into()),
                    ..draft("viewer")
                }
                .validate()
            ),
            ["owner"]
        );
        assert_eq!(
            draft("viewer").validate().unwrap().kind,
            TokenKind::Service,
            "service is the default kind"
        );
    }

    #[test]
    fn only_tokens_whose_powers_can_be_scoped_take_a_scope() {
        let scoped = |role: &str, pipelines: &[&str], environments: &[&str]| TokenDraft {
            pipelines: pipelines.iter().map(|s| s.to_string()).collect(),
            environments: environments.iter().map(|s| s.to_string()).collect(),
            ..draft(role)
        };
        assert_eq!(
            fields(scoped("viewer", &["payments"], &[]).validate()),
            ["pipelines"]
        );
        assert_eq!(
            fields(scoped("admin", &["payments"], &["production"]).validate()),
            ["pipelines", "environments"]
        );
        // A deployer limited to environments could operate no run at all.
        assert_eq!(
            fields(scoped("deployer", &["payments"], &["production"]).validate()),
            ["environments"]
        );
        let manager = scoped(
            "release-manager",
            &[" payments ", "payments"],
            &["production"],
        )
        .validate()
        .unwrap();
        assert_eq!(
            manager.grant,
            Grant {
                role: Role::ReleaseManager,
                scope: Scope {
                    pipelines: vec!["payments".into()],
                    environments: vec!["production".into()]
                }
            }
        );
        assert_eq!(
            scoped("deployer", &["payments"], &[])
                .validate()
                .unwrap()
                .grant
                .scope
                .pipelines,
            ["payments"]
        );
    }

    #[test]
    fn a_draft_with_an_unknown_field_does_not_parse() {
        let typo = serde_json::from_str::<TokenDraft>(
            r#"{"name": "ci", "role": "deployer", "pipeline": ["payments"]}"#,
        );
        assert!(
            typo.unwrap_err()
                .to_string()
                .contains("unknown field `pipeline`")
        );
    }

    #[test]
    fn the_form_reads_comma_separated_lists_and_days_as_text() {
        let form = TokenForm {
            name: "prod approver".into(),
            kind: "service".into(),
            role: "release-manager".into(),
            pipelines: "payments, billing,,".into(),
            environments: "production".into(),
            expires_in_days: " 90 ".into(),
            ..TokenForm::default()
        };
        let spec = form.validate().unwrap();
        assert_eq!(spec.grant.scope.pipelines, ["payments", "billing"]);
        assert_eq!(spec.expires_in_days, Some(90));
        assert_eq!(
            TokenForm {
                expires_in_days: String::new(),
                ..form.clone()
            }
            .validate()
            .unwrap()
            .expires_in_days,
            None
        );
        let both = TokenForm {
            name: String::new(),
            expires_in_days: "soon".into(),
            ..form
        }
        .validate()
        .unwrap_err();
        assert_eq!(
            both.to_string(),
            "name: must not be empty; expires_in_days: `soon` is not a whole number of days"
        );
    }
}
