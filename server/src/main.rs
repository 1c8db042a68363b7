use clap::Parser;
use shipgate::config::{AuthMode, BackupArgs, Cli, Command, ServeArgs, Settings};
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
        Some(Command::Backup(args)) => return backup(args).await,
        Some(Command::ResetBootstrapPassword(args)) => return reset_bootstrap_password(args).await,
    };
    let settings = match Settings::load(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("shipgate: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if check_only {
        println!(
            "configuration is valid: {} pipeline(s)",
            settings.pipelines.len()
        );
        for p in &settings.pipelines {
            let envs: Vec<String> = p
                .environments
                .iter()
                .map(|e| format!("{} ({})", e.name, e.promotion))
                .collect();
            println!(
                "  {} ← {}@{} → {}",
                p.name,
                p.repository,
                p.branch,
                envs.join(" → ")
            );
        }
        return ExitCode::SUCCESS;
    }
    telemetry::init(settings.log_format);
    if settings.webhook_secret.is_none() {
        tracing::warn!(
            "no webhook secret is configured: /webhooks/github refuses every delivery until GITHUB_WEBHOOK_SECRET is set"
        );
    }
    if let Some(endpoint) = &settings.aws_endpoint_url {
        tracing::warn!(
            endpoint = %endpoint,
            "AWS stand-in: every AWS call goes to {endpoint}, not to an AWS account (a demo or a test); \
             unset AWS_ENDPOINT_URL (aws_endpoint_url) to deploy to AWS itself"
        );
    }
    match &settings.auth.mode {
        AuthMode::Local {
            loopback_only: true,
        } => tracing::warn!(
            "local mode: no identity provider is configured, so whoever uses this machine's {} is an admin, with no sign-in; \
             requests through a proxy or to another host name are refused; configure [auth] (docs/access.md) before sharing it",
            settings.listen
        ),
        AuthMode::Local {
            loopback_only: false,
        } => tracing::warn!(
            "local mode opened to the network (allow_local_mode): EVERYONE who can reach {} is an admin, with no sign-in or password: \
             they can change pipelines, approve production and make admin tokens; configure [auth] (docs/access.md) instead",
            settings.listen
        ),
        AuthMode::Bootstrap => info!(
            "bootstrap mode: no identity provider is configured, so one admin signs in with the bootstrap password"
        ),
        AuthMode::Oidc(oidc) => {
            info!(issuer = %oidc.issuer, rules = oidc.rules.len(), "sign-in through OpenID Connect")
        }
    }
    let server = match Server::build(&settings).await {
        Ok(s) => s,
        Err(e) => {
            error!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    let addr = server
        .listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    info!(%addr, database = server.store.backend(), "shipgate is listening on http://{addr}");
    let service = server
        .router
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let engine = settings
        .engine
        .then(|| tokio::spawn(server.engine.run(stopped)));
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

/// `shipgate backup FILE`: prints what it wrote and exits 0, or says why not and exits 1
/// (2 for a configuration error, as `serve` does).
async fn backup(args: BackupArgs) -> ExitCode {
    let settings = match Settings::load(args.serve) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("shipgate: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    match shipgate::backup::run(&settings.database_url, &args.file).await {
        Ok(written) => {
            println!("{written}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("shipgate: backup failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `shipgate reset-bootstrap-password`: prints the new password, or says why not and exits 1.
async fn reset_bootstrap_password(args: ServeArgs) -> ExitCode {
    let settings = match Settings::load(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("shipgate: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    match shipgate::reset_bootstrap_password(&settings).await {
        Ok(password) => {
            println!("new bootstrap admin password: {password}");
            println!("every session has ended; sign in again at /auth/sign-in");
            let other = match settings.auth.mode {
                AuthMode::Bootstrap => None,
                AuthMode::Local { .. } => Some("local mode, with no sign-in"),
                AuthMode::Oidc(_) => Some("OpenID Connect"),
            };
            if let Some(used) = other {
                println!(
                    "note: this configuration does not sign people in with it; it uses {used}"
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("shipgate: cannot reset the bootstrap password: {e:#}");
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
