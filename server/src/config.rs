//! Shipgate's configuration: command-line flags, each with an environment twin, over an
//! optional TOML file. Parsed once at start-up into [`Settings`]; every problem is reported
//! by the name of the key (or flag) that caused it.

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use shipgate_pipeline::access::{Grant, Role, RoleRule, RuleSubject, Scope};
use shipgate_pipeline::{PipelineDraft, PipelineSpec, Span};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Parser)]
#[command(
    name = "shipgate",
    version,
    about = "Ship GitHub pushes to AWS ECS, with approval gates."
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the portal: dashboard, REST API and webhook intake (the default).
    Serve(ServeArgs),
    /// Check the configuration and exit, printing the pipelines it declares.
    CheckConfig(ServeArgs),
    /// Make a new bootstrap admin password, print it, and end every session (for a
    /// Shipgate without an identity provider whose first-start password was lost or seen).
    ResetBootstrapPassword(ServeArgs),
    /// Copy the SQLite database to FILE while Shipgate runs (PostgreSQL: use pg_dump).
    Backup(BackupArgs),
}

/// `shipgate backup FILE`: the database is found as `serve` finds it.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the copy; it must not exist yet, and its directory must
    pub file: PathBuf,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:3000]
    #[arg(long, env = "SHIPGATE_LISTEN")]
    pub listen: Option<String>,
    /// `sqlite:<path>` or `postgres://…` [default: sqlite:shipgate.db in the working directory]
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// TOML file with settings and `[[pipeline]]` definitions [default: ./shipgate.toml if present]
    #[arg(long, env = "SHIPGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Secret GitHub signs webhook deliveries with (X-Hub-Signature-256)
    #[arg(long, env = "GITHUB_WEBHOOK_SECRET", hide_env_values = true)]
    pub github_webhook_secret: Option<SecretString>,
    /// Bearer token that authorises the REST API's write endpoints
    #[arg(long, env = "SHIPGATE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<SecretString>,
    /// Log format [default: text]
    #[arg(long, env = "SHIPGATE_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Directory holding the built site (CSS, wasm) [default: target/site]
    #[arg(long, env = "LEPTOS_SITE_ROOT")]
    pub site_root: Option<PathBuf>,
    /// First interval between ECR and ECS polls, e.g. `5s` or `500ms` [default: 5s]
    #[arg(long, env = "SHIPGATE_POLL_INTERVAL")]
    pub poll_interval: Option<String>,
    /// How long a replica that stopped renewing keeps its runs, e.g. `30s` [default: 30s]
    #[arg(long, env = "SHIPGATE_LEASE")]
    pub lease: Option<String>,
    /// How often ECS services and ECR repositories are looked up for the services and
    /// images pages, e.g. `60s` [default: 60s]
    #[arg(long, env = "SHIPGATE_INVENTORY_INTERVAL")]
    pub inventory_interval: Option<String>,
    /// How often each pipeline's branch head is read from GitHub (and the hook's delivery
    /// log read back) to catch pushes whose webhook never arrived, e.g. `5m` [default: 5m]
    #[arg(long, env = "SHIPGATE_RECONCILE_INTERVAL")]
    pub reconcile_interval: Option<String>,
    /// Serve the portal and take webhooks, but leave deploying to other replicas
    #[arg(long, env = "SHIPGATE_NO_ENGINE")]
    pub no_engine: bool,
    /// The URL people reach Shipgate at, e.g. `https://shipgate.example.com`; sign-in
    /// redirects back to `<public URL>/auth/callback`, and an https URL makes cookies `Secure`
    #[arg(long, env = "SHIPGATE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// OpenID Connect issuer URL (discovery); without one, Shipgate runs in local single-user mode
    #[arg(long, env = "SHIPGATE_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// OpenID Connect client id
    #[arg(long, env = "SHIPGATE_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// OpenID Connect client secret
    #[arg(long, env = "SHIPGATE_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<SecretString>,
    /// Without an identity provider, make EVERYONE who can reach Shipgate its admin, with no
    /// sign-in and no password, even on a non-loopback address or behind a proxy: anyone who
    /// reaches the port can repoint pipelines, approve production and make admin tokens. Off
    /// by default: without a provider, Shipgate then serves loopback only, or asks for the
    /// bootstrap admin password
    #[arg(long, env = "SHIPGATE_ALLOW_LOCAL_MODE")]
    pub allow_local_mode: bool,
    /// A GitHub token that may create deployments and their statuses (fine-grained:
    /// "Deployments: write"; also "Contents: read" for the commit list on a gate). Without
    /// one, Shipgate tells GitHub nothing and gates show no commit list.
    #[arg(long, env = "SHIPGATE_GITHUB_TOKEN", hide_env_values = true)]
    pub github_token: Option<SecretString>,
    /// GitHub's REST API [default: https://api.github.com]; GitHub Enterprise Server's is `https://HOST/api/v3`.
    #[arg(long, env = "SHIPGATE_GITHUB_API_URL")]
    pub github_api_url: Option<String>,
    /// Send every AWS call here instead of AWS's own endpoints: a stand-in such as moto
    /// (the demo) or LocalStack. Every page then says so in its top bar.
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
}

/// The keys a TOML file may set. Unknown keys are refused, so a typo cannot silently
/// fall back to a default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database_url: Option<String>,
    github_webhook_secret: Option<String>,
    admin_token: Option<String>,
    log_format: Option<LogFormat>,
    site_root: Option<PathBuf>,
    poll_interval: Option<String>,
    lease: Option<String>,
    inventory_interval: Option<String>,
    reconcile_interval: Option<String>,
    public_url: Option<String>,
    github_token: Option<String>,
    github_api_url: Option<String>,
    aws_endpoint_url: Option<String>,
    #[serde(default)]
    auth: FileAuth,
    #[serde(default, rename = "pipeline")]
    pipelines: Vec<PipelineDraft>,
}

/// The `[auth]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAuth {
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scopes: Option<Vec<String>>,
    groups_claim: Option<String>,
    session_idle_timeout: Option<String>,
    session_absolute_timeout: Option<String>,
    allow_local_mode: Option<bool>,
    #[serde(default, rename = "grant")]
    grants: Vec<FileGrant>,
}

/// One `[[auth.grant]]`: exactly one of `email`, `domain` or `group`, and a role.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGrant {
    email: Option<String>,
    domain: Option<String>,
    group: Option<String>,
    role: String,
    #[serde(default)]
    pipelines: Vec<String>,
    #[serde(default)]
    environments: Vec<String>,
}

/// GitHub's REST API, for deployment statuses and the commits on a gate.
#[derive(Debug, Clone)]
pub struct GitHubApi {
    pub token: SecretString,
    pub api_url: String,
}

/// How people prove who they are.
#[derive(Debug)]
pub enum AuthMode {
    /// No identity provider: one implicit user with every power, for a laptop or a trial.
    /// With `loopback_only`, only requests addressed to this machine by a loopback name, and
    /// not forwarded by a proxy, get that user (see [`without_provider`]); without it (the
    /// explicit `allow_local_mode`), everyone who reaches the port does.
    Local {
        loopback_only: bool,
    },
    /// No identity provider, but reachable by others: one admin, who signs in with the
    /// password Shipgate made at its first start and showed once in its log.
    Bootstrap,
    Oidc(OidcSettings),
}

/// How a Shipgate without an identity provider lets people in. Local mode (no sign-in) is
/// only for a loopback listen address that no https `public_url` says faces other people;
/// any other address asks for the bootstrap admin password, so no configuration hands out a
/// role without a credential. The decision reads the configuration, never the peer address:
/// behind a reverse proxy on the same host, every peer is 127.0.0.1.
pub fn without_provider(
    listen: SocketAddr,
    public_url: Option<&str>,
    allow_local_mode: bool,
) -> AuthMode {
    let faces_people = public_url.is_some_and(|u| u.starts_with("https://"));
    match (allow_local_mode, listen.ip().is_loopback() && !faces_people) {
        (true, _) => AuthMode::Local {
            loopback_only: false,
        },
        (false, true) => AuthMode::Local {
            loopback_only: true,
        },
        (false, false) => AuthMode::Bootstrap,
    }
}

#[derive(Debug)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub scopes: Vec<String>,
    /// The ID token claim that lists the person's groups.
    pub groups_claim: String,
    pub rules: Vec<RoleRule>,
}

#[derive(Debug)]
pub struct AuthSettings {
    pub mode: AuthMode,
    /// A session unused this long is over.
    pub idle_timeout: Span,
    /// A session older than this is over, however busy.
    pub absolute_timeout: Span,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            mode: AuthMode::Local {
                loopback_only: true,
            },
            idle_timeout: Span::seconds(8 * 3600),
            absolute_timeout: Span::seconds(24 * 3600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// A setting from the command line (flag or env var, named `flag`), else from the file
/// (named `key`), with the name of where it came from, so an error names what to fix.
fn pick<'a, T>(
    flag: &'a str,
    arg: Option<T>,
    key: &'a str,
    file: Option<T>,
) -> Option<(&'a str, T)> {
    match (arg, file) {
        (Some(v), _) => Some((flag, v)),
        (None, Some(v)) => Some((key, v)),
        (None, None) => None,
    }
}

/// Everything the server needs, checked.
#[derive(Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: String,
    pub webhook_secret: Option<SecretString>,
    pub admin_token: Option<SecretString>,
    pub log_format: LogFormat,
    pub site_root: PathBuf,
    pub pipelines: Vec<PipelineSpec>,
    pub config_path: Option<PathBuf>,
    pub poll_interval: Span,
    pub lease: Span,
    pub inventory_interval: Span,
    /// How often branch heads and hook delivery logs are read back from GitHub.
    pub reconcile_interval: Span,
    /// Whether this process runs the deploy engine.
    pub engine: bool,
    /// Scheme, host and port people use, without a trailing slash.
    pub public_url: Option<String>,
    /// Where and as whom Shipgate calls GitHub's REST API; `None` without a token.
    pub github: Option<GitHubApi>,
    /// Where AWS calls go instead of AWS (a stand-in); `None` for AWS itself.
    pub aws_endpoint_url: Option<String>,
    pub auth: AuthSettings,
}

/// Admin tokens shorter than this are guessable; refuse them at start-up.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

impl Settings {
    pub fn load(args: ServeArgs) -> Result<Settings, ConfigError> {
        let (file, config_path) = match &args.config {
            Some(path) => (read_file(path)?, Some(path.clone())),
            None if Path::new("shipgate.toml").exists() => {
                let path = PathBuf::from("shipgate.toml");
                (read_file(&path)?, Some(path))
            }
            None => (FileConfig::default(), None),
        };
        Self::merge(args, file, config_path)
    }

    fn merge(
        args: ServeArgs,
        file: FileConfig,
        config_path: Option<PathBuf>,
    ) -> Result<Settings, ConfigError> {
        let (listen_key, listen) = pick(
            "--listen / SHIPGATE_LISTEN",
            args.listen,
            "listen",
            file.listen,
        )
        .unwrap_or_else(|| ("listen", "127.0.0.1:3000".to_owned()));
        let listen: SocketAddr = listen.parse().map_err(|_| {
            invalid(
                listen_key,
                format!("`{listen}` is not an address such as 127.0.0.1:3000"),
            )
        })?;

        let (db_key, database_url) = pick(
            "--database-url / DATABASE_URL",
            args.database_url,
            "database_url",
            file.database_url,
        )
        .unwrap_or_else(|| ("database_url", "sqlite:shipgate.db".to_owned()));
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(invalid(
                db_key,
                "must start with `sqlite:` or `postgres://`",
            ));
        }

        let webhook_secret = secret(
            "--github-webhook-secret / GITHUB_WEBHOOK_SECRET",
            args.github_webhook_secret,
            "github_webhook_secret",
            file.github_webhook_secret,
            1,
        )?;
        let admin_token = secret(
            "--admin-token / SHIPGATE_ADMIN_TOKEN",
            args.admin_token,
            "admin_token",
            file.admin_token,
            MIN_ADMIN_TOKEN_LEN,
        )?;

        let span = |flag: &str,
                    arg: Option<String>,
                    key: &str,
                    file: Option<String>,
                    default: Span|
         -> Result<Span, ConfigError> {
            let Some((name, text)) = pick(flag, arg, key, file) else {
                return Ok(default);
            };
            match text.parse::<Span>() {
                Ok(s) if s.as_millis() >= 10 => Ok(s),
                Ok(_) => Err(invalid(
                    name,
                    format!("`{text}` is too short; use at least 10ms"),
                )),
                Err(message) => Err(invalid(name, message)),
            }
        };
        let poll_interval = span(
            "--poll-interval / SHIPGATE_POLL_INTERVAL",
            args.poll_interval,
            "poll_interval",
            file.poll_interval,
            Span::seconds(5),
        )?;
        let lease = span(
            "--lease / SHIPGATE_LEASE",
            args.lease,
            "lease",
            file.lease,
            Span::seconds(30),
        )?;
        let inventory_interval = span(
            "--inventory-interval / SHIPGATE_INVENTORY_INTERVAL",
            args.inventory_interval,
            "inventory_interval",
            file.inventory_interval,
            Span::seconds(60),
        )?;
        let reconcile_interval = span(
            "--reconcile-interval / SHIPGATE_RECONCILE_INTERVAL",
            args.reconcile_interval,
            "reconcile_interval",
            file.reconcile_interval,
            Span::minutes(5),
        )?;
        // Each pass costs GitHub calls (free when nothing changed, but not free of latency):
        // once a second is as often as a test needs.
        if reconcile_interval.as_millis() < 1000 {
            return Err(invalid(
                "--reconcile-interval / SHIPGATE_RECONCILE_INTERVAL",
                format!("`{reconcile_interval}` is too short; use at least 1s"),
            ));
        }

        let public_url = pick(
            "--public-url / SHIPGATE_PUBLIC_URL",
            args.public_url,
            "public_url",
            file.public_url,
        )
        .map(|(name, v)| public_url(name, &v))
        .transpose()?;
        let github_token = secret(
            "--github-token / SHIPGATE_GITHUB_TOKEN",
            args.github_token,
            "github_token",
            file.github_token,
            1,
        )?;
        let github_api_url = match pick(
            "--github-api-url / SHIPGATE_GITHUB_API_URL",
            args.github_api_url,
            "github_api_url",
            file.github_api_url,
        ) {
            Some((name, v)) => api_url(name, &v)?,
            None => "https://api.github.com".to_owned(),
        };
        let aws_endpoint_url = match pick(
            "--aws-endpoint-url / AWS_ENDPOINT_URL",
            args.aws_endpoint_url,
            "aws_endpoint_url",
            file.aws_endpoint_url,
        ) {
            Some((name, v)) => Some(api_url(name, &v)?),
            None => None,
        };
        let oidc_secret = secret(
            "--oidc-client-secret / SHIPGATE_OIDC_CLIENT_SECRET",
            args.oidc_client_secret,
            "auth.client_secret",
            file.auth.client_secret.clone(),
            1,
        )?;
        let auth = auth_settings(
            AuthArgs {
                issuer: args.oidc_issuer,
                client_id: args.oidc_client_id,
                allow_local_mode: args.allow_local_mode,
                listen,
            },
            oidc_secret,
            file.auth,
            public_url.as_deref(),
            &span,
        )?;

        let mut pipelines: Vec<PipelineSpec> = Vec::with_capacity(file.pipelines.len());
        for (i, draft) in file.pipelines.iter().enumerate() {
            let spec = draft.validate().map_err(|e| {
                let first = &e.errors[0];
                invalid(
                    &format!("pipeline[{i}].{}", first.field),
                    e.errors
                        .iter()
                        .map(|f| format!("{}: {}", f.field, f.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?;
            if pipelines.iter().any(|p| p.name == spec.name) {
                return Err(invalid(
                    &format!("pipeline[{i}].name"),
                    format!("pipeline `{}` is declared twice", spec.name),
                ));
            }
            pipelines.push(spec);
        }

        Ok(Settings {
            listen,
            database_url,
            webhook_secret,
            admin_token,
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            site_root: args
                .site_root
                .or(file.site_root)
                .unwrap_or_else(|| PathBuf::from("target/site")),
            pipelines,
            config_path,
            poll_interval,
            lease,
            inventory_interval,
            reconcile_interval,
            engine: !args.no_engine,
            public_url,
            github: github_token.map(|token| GitHubApi {
                token,
                api_url: github_api_url,
            }),
            aws_endpoint_url,
            auth,
        })
    }
}

struct AuthArgs {
    issuer: Option<String>,
    client_id: Option<String>,
    allow_local_mode: bool,
    listen: SocketAddr,
}

type SpanReader<'a> =
    dyn Fn(&str, Option<String>, &str, Option<String>, Span) -> Result<Span, ConfigError> + 'a;

fn auth_settings(
    args: AuthArgs,
    client_secret: Option<SecretString>,
    file: FileAuth,
    public_url: Option<&str>,
    span: &SpanReader<'_>,
) -> Result<AuthSettings, ConfigError> {
    let defaults = AuthSettings::default();
    let idle_timeout = span(
        "auth.session_idle_timeout",
        None,
        "auth.session_idle_timeout",
        file.session_idle_timeout,
        defaults.idle_timeout,
    )?;
    let absolute_timeout = span(
        "auth.session_absolute_timeout",
        None,
        "auth.session_absolute_timeout",
        file.session_absolute_timeout,
        defaults.absolute_timeout,
    )?;
    if idle_timeout.as_millis() > absolute_timeout.as_millis() {
        return Err(invalid(
            "auth.session_idle_timeout",
            format!(
                "{idle_timeout} is longer than auth.session_absolute_timeout ({absolute_timeout})"
            ),
        ));
    }
    let (issuer_key, issuer) = match (args.issuer, file.issuer) {
        (Some(v), _) => ("--oidc-issuer / SHIPGATE_OIDC_ISSUER", Some(v)),
        (None, v) => ("auth.issuer", v),
    };
    let client_id = args.client_id.or(file.client_id);
    let allow_local_mode = args.allow_local_mode || file.allow_local_mode.unwrap_or(false);
    let mut rules = Vec::with_capacity(file.grants.len());
    for (i, g) in file.grants.into_iter().enumerate() {
        rules.push(role_rule(i, g)?);
    }
    let Some(issuer) = issuer.filter(|i| !i.trim().is_empty()) else {
        if client_id.is_some() || client_secret.is_some() {
            return Err(invalid(
                "auth.issuer",
                "a client id or secret is set but no issuer: set auth.issuer (--oidc-issuer / SHIPGATE_OIDC_ISSUER)",
            ));
        }
        return Ok(AuthSettings {
            mode: without_provider(args.listen, public_url, allow_local_mode),
            idle_timeout,
            absolute_timeout,
        });
    };
    let issuer = issuer.trim_end_matches('/').to_owned();
    if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
        return Err(invalid(
            issuer_key,
            format!("`{issuer}` is not an http(s) URL"),
        ));
    }
    let client_id = client_id.filter(|c| !c.is_empty()).ok_or_else(|| {
        invalid(
            "auth.client_id",
            "required when an issuer is set (--oidc-client-id / SHIPGATE_OIDC_CLIENT_ID)",
        )
    })?;
    let client_secret = client_secret.ok_or_else(|| {
        invalid(
            "auth.client_secret",
            "required when an issuer is set (--oidc-client-secret / SHIPGATE_OIDC_CLIENT_SECRET)",
        )
    })?;
    if public_url.is_none() {
        return Err(invalid(
            "public_url",
            "required with OpenID Connect: the provider sends people back to <public_url>/auth/callback",
        ));
    }
    if rules.is_empty() {
        return Err(invalid(
            "auth.grant",
            "no [[auth.grant]] rule is configured, so nobody could sign in",
        ));
    }
    let mut scopes = file
        .scopes
        .unwrap_or_else(|| vec!["openid".into(), "email".into(), "profile".into()]);
    if !scopes.iter().any(|s| s == "openid") {
        scopes.insert(0, "openid".into());
    }
    Ok(AuthSettings {
        mode: AuthMode::Oidc(OidcSettings {
            issuer,
            client_id,
            client_secret,
            scopes,
            groups_claim: file.groups_claim.unwrap_or_else(|| "groups".into()),
            rules,
        }),
        idle_timeout,
        absolute_timeout,
    })
}

fn role_rule(i: usize, g: FileGrant) -> Result<RoleRule, ConfigError> {
    let key = |field: &str| format!("auth.grant[{i}].{field}");
    let role: Role = g
        .role
        .parse()
        .map_err(|e: shipgate_pipeline::access::UnknownRole| {
            invalid(&key("role"), e.to_string())
        })?;
    let subject = match (g.email, g.domain, g.group) {
        (Some(e), None, None) if e.contains('@') => RuleSubject::Email(e),
        (Some(e), None, None) => {
            return Err(invalid(
                &key("email"),
                format!("`{e}` is not an email address"),
            ));
        }
        (None, Some(d), None) if !d.is_empty() && !d.contains('@') => RuleSubject::Domain(d),
        (None, Some(d), None) => {
            return Err(invalid(
                &key("domain"),
                format!("`{d}` is not a domain such as example.com"),
            ));
        }
        (None, None, Some(group)) if !group.is_empty() => RuleSubject::Group(group),
        (None, None, Some(_)) => return Err(invalid(&key("group"), "must not be empty")),
        _ => {
            return Err(invalid(
                &format!("auth.grant[{i}]"),
                "needs exactly one of email, domain or group",
            ));
        }
    };
    let scope = Scope {
        pipelines: g.pipelines,
        environments: g.environments,
    };
    if !scope.is_everywhere() && !matches!(role, Role::Deployer | Role::ReleaseManager) {
        let field = if scope.pipelines.is_empty() {
            "environments"
        } else {
            "pipelines"
        };
        return Err(invalid(
            &key(field),
            format!(
                "only deployer and release-manager grants can be limited; a {role} sees or manages everything"
            ),
        ));
    }
    Ok(RoleRule {
        subject,
        grant: Grant { role, scope },
    })
}

/// Checks a public URL: http(s), a host, no path (Shipgate serves from the root).
fn public_url(key: &str, text: &str) -> Result<String, ConfigError> {
    let url = text.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', '@', ' ']) => {
            Ok(url.to_owned())
        }
        Some(_) => Err(invalid(
            key,
            format!("`{text}` must be scheme and host only, such as https://shipgate.example.com"),
        )),
        None => Err(invalid(key, format!("`{text}` is not an http(s) URL"))),
    }
}

/// An API's base URL: scheme, host, and a path (GitHub Enterprise Server's `/api/v3`).
fn api_url(key: &str, text: &str) -> Result<String, ConfigError> {
    let url = text.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty()
                && !rest.starts_with('/')
                && !rest.contains(['?', '#', '@', ' ']) =>
        {
            Ok(url.to_owned())
        }
        Some(_) => Err(invalid(
            key,
            format!(
                "`{text}` must be a scheme, a host and an optional path, such as https://github.example.com/api/v3"
            ),
        )),
        None => Err(invalid(key, format!("`{text}` is not an http(s) URL"))),
    }
}

fn secret(
    flag: &str,
    from_args: Option<SecretString>,
    key: &str,
    from_file: Option<String>,
    min_len: usize,
) -> Result<Option<SecretString>, ConfigError> {
    let Some((name, value)) = pick(flag, from_args, key, from_file.map(SecretString::from)) else {
        return Ok(None);
    };
    let len = value.expose_secret().chars().count();
    if len == 0 {
        return Err(invalid(name, "must not be empty"));
    }
    if len < min_len {
        return Err(invalid(
            name,
            format!("must be at least {min_len} characters long"),
        ));
    }
    Ok(Some(value))
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_file(path, &text)
}

fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string().trim().to_owned(),
    })
}

/// Parses a TOML text as the config file, with no flags set; for tests and tools. Errors read
/// as they would for a file named `shipgate.toml`.
pub fn settings_from_toml(text: &str) -> Result<Settings, ConfigError> {
    let path = Path::new("shipgate.toml");
    Settings::merge(
        ServeArgs::default(),
        parse_file(path, text)?,
        Some(path.to_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_toml(text: &str) -> Result<Settings, ConfigError> {
        let path = Path::new("test.toml");
        Settings::merge(
            ServeArgs::default(),
            parse_file(path, text)?,
            Some(path.to_owned()),
        )
    }

    #[test]
    fn a_flag_or_env_var_beats_the_file_and_the_pick_names_where_it_came_from() {
        for (arg, file, picked) in [
            (Some("a"), Some("f"), Some(("--x / X", "a"))),
            (Some("a"), None, Some(("--x / X", "a"))),
            (None, Some("f"), Some(("x", "f"))),
            (None, None, None),
        ] {
            assert_eq!(
                pick("--x / X", arg, "x", file),
                picked,
                "arg {arg:?}, file {file:?}"
            );
        }
    }

    const PIPELINE: &str = r#"
[[pipeline]]
name = "api"
repository = "octo-org/api"
branch = "main"
ecr_repository = "api"

[[pipeline.environment]]
name = "staging"
cluster = "stg"
service = "api"
container = "app"
region = "us-east-1"
promotion = "auto"
"#;

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let s = from_toml("").unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(s.database_url, "sqlite:shipgate.db");
        assert!(s.webhook_secret.is_none() && s.admin_token.is_none());
    }

    #[test]
    fn pipelines_are_read_from_toml_tables() {
        let s = from_toml(PIPELINE).unwrap();
        assert_eq!(s.pipelines.len(), 1);
        assert_eq!(s.pipelines[0].environments[0].name, "staging");
    }

    #[test]
    fn a_bad_key_is_named_in_the_error() {
        let cases = [
            ("listen = \"nowhere\"", "listen"),
            ("database_url = \"mysql://x\"", "database_url"),
            ("admin_token = \"short\"", "admin_token"),
            ("github_webhook_secret = \"\"", "github_webhook_secret"),
            ("lissen = \"127.0.0.1:1\"", "lissen"),
        ];
        for (text, key) in cases {
            let err = from_toml(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn an_invalid_pipeline_names_its_index_and_field() {
        let err = from_toml(&PIPELINE.replace("\"auto\"", "\"sometimes\""))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("pipeline[0].environments[0].promotion:"),
            "{err}"
        );
        let err = from_toml(&format!("{PIPELINE}{PIPELINE}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pipeline[1].name") && err.contains("declared twice"),
            "{err}"
        );
    }

    const OIDC: &str = r#"
public_url = "https://shipgate.example.com"
[auth]
issuer = "https://id.example.com/"
client_id = "shipgate"
client_secret = "s3cret"
[[auth.grant]]
domain = "example.com"
role = "viewer"
[[auth.grant]]
group = "payments-release"
role = "release-manager"
pipelines = ["payments"]
environments = ["production"]
"#;

    #[test]
    fn an_oidc_provider_is_read_with_its_role_rules() {
        let s = from_toml(OIDC).unwrap();
        let AuthMode::Oidc(oidc) = &s.auth.mode else {
            panic!("expected OpenID mode")
        };
        assert_eq!(
            oidc.issuer, "https://id.example.com",
            "a trailing slash is dropped"
        );
        assert_eq!(oidc.scopes, ["openid", "email", "profile"]);
        assert_eq!(oidc.groups_claim, "groups");
        assert_eq!(oidc.rules.len(), 2);
        assert_eq!(oidc.rules[1].grant.scope.environments, ["production"]);
        assert_eq!(s.auth.idle_timeout, Span::seconds(8 * 3600));
        assert_eq!(
            s.public_url.as_deref(),
            Some("https://shipgate.example.com")
        );
    }

    #[test]
    fn sign_in_settings_that_cannot_work_are_refused_by_key() {
        let cases: [(&str, &str); 8] = [
            (
                r#"public_url = "https://shipgate.example.com/app""#,
                "public_url",
            ),
            (r#"public_url = "ftp://x""#, "public_url"),
            ("[auth]\nclient_id = \"x\"", "auth.issuer"),
            (
                "[auth]\nissuer = \"https://id.example.com\"\nclient_secret = \"s\"",
                "auth.client_id",
            ),
            (
                "[auth]\nissuer = \"https://id.example.com\"\nclient_id = \"c\"\nclient_secret = \"s\"",
                "public_url",
            ),
            (
                "[auth]\nsession_idle_timeout = \"2d\"\nsession_absolute_timeout = \"1d\"",
                "auth.session_idle_timeout",
            ),
            ("[[auth.grant]]\nrole = \"admin\"", "auth.grant[0]"),
            (
                "[[auth.grant]]\ngroup = \"g\"\nrole = \"root\"",
                "auth.grant[0].role",
            ),
        ];
        for (text, key) in cases {
            let err = from_toml(text).unwrap_err().to_string();
            assert!(err.starts_with(key), "{text}: {err}");
        }
        let no_rules = OIDC.split("[[auth.grant]]").next().unwrap();
        assert!(
            from_toml(no_rules)
                .unwrap_err()
                .to_string()
                .starts_with("auth.grant: no [[auth.grant]] rule")
        );
        let scoped_admin = format!(
            "{OIDC}[[auth.grant]]\nemail = \"a@example.com\"\nrole = \"admin\"\npipelines = [\"payments\"]\n"
        );
        assert!(
            from_toml(&scoped_admin)
                .unwrap_err()
                .to_string()
                .starts_with("auth.grant[2].pipelines")
        );
    }

    /// The configurations the README and the Dockerfile show, and their neighbours: none
    /// without a provider gives a role without a credential unless `allow_local_mode` says so.
    #[test]
    fn without_a_provider_only_loopback_skips_the_password() {
        use AuthMode::{Bootstrap, Local};
        let cases: [(&str, Option<&str>, bool, &str); 10] = [
            ("127.0.0.1:3000", None, false, "local, loopback only"),
            ("[::1]:3000", None, false, "local, loopback only"),
            (
                "127.0.0.1:3000",
                Some("http://127.0.0.1:3000"),
                false,
                "local, loopback only",
            ),
            // The Dockerfile's address.
            ("0.0.0.0:3000", None, false, "bootstrap"),
            ("[::]:3000", None, false, "bootstrap"),
            ("192.0.2.10:3000", None, false, "bootstrap"),
            // A TLS proxy in front of a loopback listener: the portal faces people.
            (
                "127.0.0.1:3000",
                Some("https://shipgate.example.com"),
                false,
                "bootstrap",
            ),
            (
                "0.0.0.0:3000",
                Some("https://shipgate.example.com"),
                false,
                "bootstrap",
            ),
            // The explicit opt-out.
            ("0.0.0.0:3000", None, true, "local, open"),
            (
                "127.0.0.1:3000",
                Some("https://shipgate.example.com"),
                true,
                "local, open",
            ),
        ];
        for (listen, public_url, allow, want) in cases {
            let got = match without_provider(listen.parse().unwrap(), public_url, allow) {
                Local {
                    loopback_only: true,
                } => "local, loopback only",
                Local {
                    loopback_only: false,
                } => "local, open",
                Bootstrap => "bootstrap",
                AuthMode::Oidc(_) => "oidc",
            };
            assert_eq!(
                got, want,
                "{listen} {public_url:?} allow_local_mode={allow}"
            );
        }
    }

    #[test]
    fn the_listen_address_and_public_url_choose_the_mode_through_every_source() {
        let s = from_toml(r#"public_url = "https://shipgate.example.com""#).unwrap();
        assert!(
            matches!(s.auth.mode, AuthMode::Bootstrap),
            "an https public URL faces people: {:?}",
            s.auth.mode
        );
        let s = from_toml(
            "public_url = \"https://shipgate.example.com\"\n[auth]\nallow_local_mode = true",
        )
        .unwrap();
        assert!(matches!(
            s.auth.mode,
            AuthMode::Local {
                loopback_only: false
            }
        ));
        let s = from_toml("listen = \"0.0.0.0:3000\"").unwrap();
        assert!(
            matches!(s.auth.mode, AuthMode::Bootstrap),
            "{:?}",
            s.auth.mode
        );
        let s = from_toml(r#"public_url = "http://127.0.0.1:3000""#).unwrap();
        assert!(
            matches!(
                s.auth.mode,
                AuthMode::Local {
                    loopback_only: true
                }
            ),
            "plain http on a laptop is fine"
        );
        let args = ServeArgs {
            listen: Some("0.0.0.0:3000".into()),
            allow_local_mode: true,
            ..Default::default()
        };
        assert!(matches!(
            Settings::merge(args, FileConfig::default(), None)
                .unwrap()
                .auth
                .mode,
            AuthMode::Local {
                loopback_only: false
            }
        ));
    }

    #[test]
    fn flags_override_the_file() {
        let args = ServeArgs {
            listen: Some("0.0.0.0:8080".into()),
            ..Default::default()
        };
        let file = parse_file(Path::new("t.toml"), "listen = \"127.0.0.1:1\"").unwrap();
        let s = Settings::merge(args, file, None).unwrap();
        assert_eq!(s.listen.to_string(), "0.0.0.0:8080");
        let err = Settings::merge(
            ServeArgs {
                listen: Some("x".into()),
                ..Default::default()
            },
            FileConfig::default(),
            None,
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with("--listen / SHIPGATE_LISTEN:"),
            "{err}"
        );
    }
}
