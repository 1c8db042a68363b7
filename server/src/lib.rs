//! The `shipgate` server: webhook intake, REST API, store and dashboard host.
//!
//! Layers, outermost first (each imports only those after it; `docs/architecture.md` has
//! the whole map): `web` (the doors: REST, dashboard bridge, webhook, live streams) →
//! `ops` (one use-case per intent) → `engine` (every side effect on AWS and GitHub, in the
//! background) → `intake` (the delivery writer), `store` (SQLite or PostgreSQL), `aws`,
//! `forge` (GitHub), `identity`, `links`, `outbound` → `config`, `clock`. The rules live in
//! the domain crate, `shipgate-pipeline`.

pub mod aws;
pub mod backup;
pub mod clock;
pub mod config;
pub mod engine;
pub mod forge;
pub mod identity;
pub mod intake;
pub mod links;
pub mod ops;
pub mod outbound;
pub mod store;
pub mod telemetry;
pub mod web;

use aws::Cloud;
use config::Settings;
use engine::{Engine, EngineHandle, EngineSettings};
use intake::DeliveryWriter;
use leptos::prelude::LeptosOptions;
use std::sync::Arc;
use store::{AuditEntry, Store};
use tokio::net::TcpListener;
use tracing::info;

/// A server ready to serve: the store is migrated and the config's pipelines are loaded.
pub struct Server {
    pub store: Store,
    pub router: axum::Router,
    pub listener: TcpListener,
    /// The deploy engine, to be run beside the HTTP server.
    pub engine: Engine,
    /// Send `true` when shutting down: live-update streams end.
    pub closing: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Server {
    pub async fn build(settings: &Settings) -> anyhow::Result<Server> {
        use anyhow::Context;
        let store = Store::connect(&settings.database_url)
            .await
            .with_context(|| {
                format!(
                    "cannot open the database at {}",
                    redact(&settings.database_url)
                )
            })?;
        load_config_pipelines(&store, settings).await?;
        if matches!(settings.auth.mode, config::AuthMode::Bootstrap) {
            show_new_bootstrap_password(&store, settings).await?;
        }
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let mut state = state(
            store.clone(),
            settings,
            listener.local_addr()?,
            store.clock().clone(),
        )?;
        let outbound = Arc::new(outbound::Outbound::new(settings.github.as_ref())?);
        let public_url = settings.public_url.clone().unwrap_or_else(|| {
            format!(
                "http://{}",
                listener.local_addr().map_or(settings.listen, |a| a)
            )
        });
        // One set of AWS clients, and one GitHub client, for the engine and for discovery.
        let cloud = Arc::new(Cloud::new(settings.aws_endpoint_url.clone()));
        state.discovery = ops::Discovery::new(cloud.clone()).with_github(outbound.clone());
        let engine = Engine::new(
            store.clone(),
            cloud,
            outbound,
            EngineSettings {
                poll: settings.poll_interval,
                lease: settings.lease,
                inventory: settings.inventory_interval,
                reconcile: settings.reconcile_interval,
                public_url,
                ..EngineSettings::default()
            },
            state.engine.clone(),
        );
        let closing = state.closing.clone();
        let router = web::router(state);
        Ok(Server {
            store,
            router,
            listener,
            engine,
            closing,
        })
    }
}

/// The shared state for a store and settings; tests build routers from it directly, some
/// with a manual `clock`. Sign-in, sessions and the store all read `clock`.
pub fn state(
    store: Store,
    settings: &Settings,
    addr: std::net::SocketAddr,
    clock: clock::Clock,
) -> anyhow::Result<web::AppState> {
    let leptos = LeptosOptions::builder()
        .output_name("shipgate")
        .site_root(settings.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .build();
    let store = store.with_clock(clock.clone());
    Ok(web::AppState {
        deliveries: DeliveryWriter::spawn(store.clone()),
        store,
        webhook_secret: settings.webhook_secret.clone().map(Arc::new),
        admin_token: settings.admin_token.clone().map(Arc::new),
        leptos,
        engine: EngineHandle::default(),
        auth: Arc::new(identity::Auth::new(
            &settings.auth,
            settings.public_url.as_deref(),
            clock.clone(),
        )?),
        public_url: settings.public_url.as_deref().map(Arc::from),
        closing: Arc::new(tokio::sync::watch::channel(false).0),
        clock,
        aws_stand_in: settings.aws_endpoint_url.as_deref().map(web::stand_in),
        discovery: ops::Discovery::new(Arc::new(Cloud::new(settings.aws_endpoint_url.clone()))),
    })
}

/// Makes the bootstrap admin password if there is none yet, and shows it, once, in the log:
/// the replica that made it is the only one that ever held it.
async fn show_new_bootstrap_password(store: &Store, settings: &Settings) -> anyhow::Result<()> {
    let password = identity::bootstrap::new_password()?;
    if store
        .ensure_bootstrap_password(&identity::bootstrap::password_hash(&password))
        .await?
    {
        let at = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", settings.listen));
        tracing::warn!(
            "no identity provider is configured and Shipgate is reachable beyond this machine, so one bootstrap admin signs in with a password. \
             It is shown this once: {password}  Sign in at {at}/auth/sign-in, then configure OpenID Connect (docs/access.md). \
             `shipgate reset-bootstrap-password` makes a new one."
        );
    } else {
        info!(
            "bootstrap admin: sign in with the password shown in the log at first start (`shipgate reset-bootstrap-password` makes a new one)"
        );
    }
    Ok(())
}

/// Replaces the bootstrap admin password and ends every session; returns the new password.
pub async fn reset_bootstrap_password(settings: &Settings) -> anyhow::Result<String> {
    use anyhow::Context;
    let store = Store::connect(&settings.database_url)
        .await
        .with_context(|| {
            format!(
                "cannot open the database at {}",
                redact(&settings.database_url)
            )
        })?;
    let password = identity::bootstrap::new_password()?;
    let actor = AuditEntry {
        actor: "cli:reset-bootstrap-password".into(),
        action: String::new(),
        target: String::new(),
        ip: None,
        detail: String::new(),
        via: None,
    };
    store
        .reset_bootstrap_password(&identity::bootstrap::password_hash(&password), &actor)
        .await?;
    store.close().await;
    Ok(password)
}

/// Writes the config file's pipelines; unchanged ones are left alone, so restarts are quiet.
pub async fn load_config_pipelines(store: &Store, settings: &Settings) -> anyhow::Result<()> {
    let actor = AuditEntry {
        actor: format!(
            "config:{}",
            settings
                .config_path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ),
        action: String::new(),
        target: String::new(),
        ip: None,
        detail: String::new(),
        via: None,
    };
    for spec in &settings.pipelines {
        let (saved, _) = store.put_pipeline(spec, "config", &actor).await?;
        info!(pipeline = %spec.name, ?saved, "pipeline from config");
    }
    Ok(())
}

/// An error and each of its sources, as one line: `a: b: c`.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
