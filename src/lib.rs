//! agenttrail reads CloudTrail logs, tells AI-agent-driven AWS calls from human ones, keeps them in
//! a Parquet lake and answers SQL over it.
//!
//! The pipeline, one module per stage:
//! ```text
//! source ─▶ decode ─▶ sink (Delta Lake tables) ─▶ query (DataFusion)
//! ```
//! `ingest` composes the first three; `commands` holds one function per subcommand, behind a thin
//! `main`.

pub mod aws;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod correlate;
pub mod decode;
pub mod deploy;
pub mod detect;
pub mod env_vars;
pub mod exit;
pub mod ingest;
pub mod integrity;
pub mod logging;
pub mod publish;
pub mod query;
pub mod render;
pub mod report;
pub mod runtime;
pub mod schema;
pub mod settings;
pub mod sink;
pub mod source;
pub mod synth;
