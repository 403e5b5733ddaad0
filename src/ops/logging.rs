//! Log output: human-readable text by default, one JSON object per line for log shippers. Text is
//! coloured only on a terminal, so a log file or journald gets no escape codes.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// Installs the global subscriber once; later calls (tests build many apps) are ignored.
pub fn init_logging(config: &Config) {
    // Checked when the configuration was read.
    let filter = EnvFilter::new(&config.log_filter);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_ansi(std::io::stdout().is_terminal());
    let result = match config.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    if result.is_ok() {
        for key in &config.unknown_keys {
            tracing::warn!(setting = %key, "unknown setting ignored");
        }
    }
}
