//! Logging: human-readable by default, JSON lines for log pipelines.

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// The default filter keeps the AWS SDK's credential-chain chatter (a warning per provider
/// tried, on every call) out of the log: Shipgate logs a failing AWS call itself, once when
/// the failure starts, changes or clears (`engine::trouble`, with the SDK's whole chain at
/// debug level), and shows it on the page it affects.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("SHIPGATE_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,aws_config=error"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
    }
}
