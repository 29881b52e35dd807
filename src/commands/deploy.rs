//! `agenttrail deploy template`.

use std::io::Write;

use anyhow::Context;

use crate::cli::DeployCommand;
use crate::exit::ExitStatus;

/// Print the template to stdout.
pub fn run(cmd: DeployCommand) -> anyhow::Result<ExitStatus> {
    match cmd {
        DeployCommand::Template(args) => {
            let alarms = crate::publish::alarms::load(&args.alarms)
                .with_context(|| format!("cannot load alarms from {}", args.alarms.display()))?;
            let t = crate::deploy::template(&alarms);
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &t)?;
            writeln!(out)?;
            Ok(ExitStatus::Success)
        }
    }
}
