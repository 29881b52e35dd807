//! Logs go to stderr through `tracing`; results go to stdout.
//!
//! `AGENTTRAIL_LOG` (EnvFilter syntax) wins; otherwise `-v`/`-q` pick the level. By default
//! agenttrail logs warnings and its own lifecycle lines (`info`), and dependencies only warnings.

use tracing_subscriber::EnvFilter;

use crate::env_vars;

/// Install the global subscriber.
pub fn init(verbose: u8, quiet: u8) {
    let filter = EnvFilter::try_from_env(env_vars::LOG).unwrap_or_else(|_| {
        let level = match (verbose, quiet) {
            (_, q) if q >= 2 => "off",
            (_, 1) => "error",
            (0, _) => "warn,agenttrail=info",
            (1, _) => "info",
            (2, _) => "info,agenttrail=debug",
            _ => "debug,agenttrail=trace",
        };
        EnvFilter::new(level)
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
