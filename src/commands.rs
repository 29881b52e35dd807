//! One function per subcommand; the only place (with `main`) that uses `anyhow`.

pub mod alarms;
pub mod deploy;
pub mod detect;
pub mod ingest;
pub mod lake;
pub mod query;
pub mod report;
pub mod session;
pub mod sessions;
pub mod shell;
pub mod synth;
pub mod verify;

use crate::cli::{Cli, Command};
use crate::exit::ExitStatus;

/// Run the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    match cli.command {
        Command::Ingest(args) => ingest::run(args, &cli.global).await,
        Command::Query(args) => query::run(args).await,
        Command::Sessions(args) => sessions::run(args).await,
        Command::Session(args) => session::run(args).await,
        Command::Report(args) => report::run(args).await,
        Command::Shell(args) => shell::run(args).await,
        Command::Synth(args) => synth::run(args),
        Command::SynthDigests(args) => synth::run_digests(args),
        Command::Detect(args) => detect::run(args).await,
        Command::Run(args) => detect::run_job(args, &cli.global).await,
        Command::Alarms(cmd) => alarms::run(cmd).await,
        Command::Lake(cmd) => lake::run(cmd).await,
        Command::Deploy(cmd) => deploy::run(cmd),
        Command::Verify(args) => verify::run(args).await,
    }
}
