use clap::Parser;
use shipgate::config::{Cli, Command, Settings};
use shipgate::{Server, telemetry};
use std::process::ExitCode;
use tracing::{error, info};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let (args, check_only) = match cli.command {
        None => (cli.serve, false),
        Some(Command::Serve(args)) => (args, false),
        Some(Command::CheckConfig(args)) => (args, true),
    };
    let settings = match Settings::load(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("shipgate: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if check_only {
        println!("configuration is valid: {} pipeline(s)", settings.pipelines.len());
        for p in &settings.pipelines {
            let envs: Vec<String> = p.environments.iter().map(|e| format!("{} ({})", e.name, e.promotion)).collect();
            println!("  {} ← {}@{} → {}", p.name, p.repository, p.branch, envs.join(" → "));
        }
        return ExitCode::SUCCESS;
    }
    telemetry::init(settings.log_format);
    if settings.webhook_secret.is_none() {
        tracing::warn!("no webhook secret is configured: /webhooks/github refuses every delivery until GITHUB_WEBHOOK_SECRET is set");
    }
    match &settings.auth.mode {
        shipgate::config::AuthMode::Local => tracing::warn!(
            "local mode: no identity provider is configured, so whoever can reach this address is an admin; \
             configure [auth] (docs/access.md) before sharing it"
        ),
        shipgate::config::AuthMode::Oidc(oidc) => info!(issuer = %oidc.issuer, rules = oidc.rules.len(), "sign-in through OpenID Connect"),
    }
    let server = match Server::build(&settings).await {
        Ok(s) => s,
        Err(e) => {
            error!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    let addr = server.listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    info!(%addr, database = server.store.backend(), "shipgate is listening on http://{addr}");
    let service = server.router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let engine = settings.engine.then(|| tokio::spawn(server.engine.run(stopped)));
    if !settings.engine {
        info!("the deploy engine is off (--no-engine): this process deploys nothing");
    }
    let closing = server.closing.clone();
    let served = axum::serve(server.listener, service)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Open pages' live-update streams end now, so the requests in flight can finish.
            let _ = closing.send(true);
        })
        .await;
    // The engine finishes the step it is in (its state is in the database either way).
    let _ = stop.send(true);
    if let Some(engine) = engine {
        let _ = engine.await;
    }
    // In-flight requests have finished; close the pool so SQLite checkpoints its WAL.
    server.store.close().await;
    match served {
        Ok(()) => {
            info!("shut down cleanly");
            ExitCode::SUCCESS
        }
        Err(e) => {
            error!("server error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    info!("shutdown signal received; finishing in-flight requests");
}
