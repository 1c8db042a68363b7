//! Shipgate's configuration: command-line flags, each with an environment twin, over an
//! optional TOML file. Parsed once at start-up into [`Settings`]; every problem is reported
//! by the name of the key (or flag) that caused it.

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use shipgate_pipeline::{PipelineDraft, PipelineSpec, Span};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Parser)]
#[command(name = "shipgate", version, about = "Ship GitHub pushes to AWS ECS, with approval gates.")]
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
    /// Serve the portal and take webhooks, but leave deploying to other replicas
    #[arg(long, env = "SHIPGATE_NO_ENGINE")]
    pub no_engine: bool,
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
    #[serde(default, rename = "pipeline")]
    pipelines: Vec<PipelineDraft>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.to_owned(), message: message.into() }
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
    /// Whether this process runs the deploy engine.
    pub engine: bool,
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

    fn merge(args: ServeArgs, file: FileConfig, config_path: Option<PathBuf>) -> Result<Settings, ConfigError> {
        let (listen_key, listen) = match (args.listen, file.listen) {
            (Some(v), _) => ("--listen / SHIPGATE_LISTEN", v),
            (None, Some(v)) => ("listen", v),
            (None, None) => ("listen", "127.0.0.1:3000".to_owned()),
        };
        let listen: SocketAddr = listen
            .parse()
            .map_err(|_| invalid(listen_key, format!("`{listen}` is not an address such as 127.0.0.1:3000")))?;

        let (db_key, database_url) = match (args.database_url, file.database_url) {
            (Some(v), _) => ("--database-url / DATABASE_URL", v),
            (None, Some(v)) => ("database_url", v),
            (None, None) => ("database_url", "sqlite:shipgate.db".to_owned()),
        };
        if !(database_url.starts_with("sqlite:") || database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Err(invalid(db_key, "must start with `sqlite:` or `postgres://`"));
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

        let span = |flag: &str, arg: Option<String>, key: &str, file: Option<String>, default: Span| -> Result<Span, ConfigError> {
            let (name, text) = match (arg, file) {
                (Some(v), _) => (flag, v),
                (None, Some(v)) => (key, v),
                (None, None) => return Ok(default),
            };
            match text.parse::<Span>() {
                Ok(s) if s.as_millis() >= 10 => Ok(s),
                Ok(_) => Err(invalid(name, format!("`{text}` is too short; use at least 10ms"))),
                Err(message) => Err(invalid(name, message)),
            }
        };
        let poll_interval = span("--poll-interval / SHIPGATE_POLL_INTERVAL", args.poll_interval, "poll_interval", file.poll_interval, Span::seconds(5))?;
        let lease = span("--lease / SHIPGATE_LEASE", args.lease, "lease", file.lease, Span::seconds(30))?;
        let inventory_interval = span(
            "--inventory-interval / SHIPGATE_INVENTORY_INTERVAL",
            args.inventory_interval,
            "inventory_interval",
            file.inventory_interval,
            Span::seconds(60),
        )?;

        let mut pipelines: Vec<PipelineSpec> = Vec::with_capacity(file.pipelines.len());
        for (i, draft) in file.pipelines.iter().enumerate() {
            let spec = draft.validate().map_err(|e| {
                let first = &e.errors[0];
                invalid(&format!("pipeline[{i}].{}", first.field), e.errors.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; "))
            })?;
            if pipelines.iter().any(|p| p.name == spec.name) {
                return Err(invalid(&format!("pipeline[{i}].name"), format!("pipeline `{}` is declared twice", spec.name)));
            }
            pipelines.push(spec);
        }

        Ok(Settings {
            listen,
            database_url,
            webhook_secret,
            admin_token,
            log_format: args.log_format.or(file.log_format).unwrap_or(LogFormat::Text),
            site_root: args.site_root.or(file.site_root).unwrap_or_else(|| PathBuf::from("target/site")),
            pipelines,
            config_path,
            poll_interval,
            lease,
            inventory_interval,
            engine: !args.no_engine,
        })
    }
}

fn secret(
    flag: &str,
    from_args: Option<SecretString>,
    key: &str,
    from_file: Option<String>,
    min_len: usize,
) -> Result<Option<SecretString>, ConfigError> {
    let (name, value) = match (from_args, from_file) {
        (Some(v), _) => (flag, v),
        (None, Some(v)) => (key, SecretString::from(v)),
        (None, None) => return Ok(None),
    };
    let len = value.expose_secret().chars().count();
    if len == 0 {
        return Err(invalid(name, "must not be empty"));
    }
    if len < min_len {
        return Err(invalid(name, format!("must be at least {min_len} characters long")));
    }
    Ok(Some(value))
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    parse_file(path, &text)
}

fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string().trim().to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_toml(text: &str) -> Result<Settings, ConfigError> {
        let path = Path::new("test.toml");
        Settings::merge(ServeArgs::default(), parse_file(path, text)?, Some(path.to_owned()))
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
        let err = from_toml(&PIPELINE.replace("\"auto\"", "\"sometimes\"")).unwrap_err().to_string();
        assert!(err.starts_with("pipeline[0].environments[0].promotion:"), "{err}");
        let err = from_toml(&format!("{PIPELINE}{PIPELINE}")).unwrap_err().to_string();
        assert!(err.contains("pipeline[1].name") && err.contains("declared twice"), "{err}");
    }

    #[test]
    fn flags_override_the_file() {
        let args = ServeArgs { listen: Some("0.0.0.0:8080".into()), ..Default::default() };
        let file = parse_file(Path::new("t.toml"), "listen = \"127.0.0.1:1\"").unwrap();
        let s = Settings::merge(args, file, None).unwrap();
        assert_eq!(s.listen.to_string(), "0.0.0.0:8080");
        let err = Settings::merge(ServeArgs { listen: Some("x".into()), ..Default::default() }, FileConfig::default(), None).unwrap_err();
        assert!(err.to_string().starts_with("--listen / SHIPGATE_LISTEN:"), "{err}");
    }
}
