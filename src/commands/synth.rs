//! `agenttrail synth`.

use crate::cli::SynthArgs;
use crate::exit::ExitStatus;
use crate::synth::{SynthOptions, generate};

/// Generate the data set and print what was written to stderr.
pub fn run(args: SynthArgs) -> anyhow::Result<ExitStatus> {
    let started = std::time::Instant::now();
    std::fs::create_dir_all(&args.out)?;
    let opts = SynthOptions {
        events: args.events,
        seed: args.seed,
        day: args.day,
        records_per_file: args.records_per_file,
    };
    let s = generate(&args.out, &opts)?;
    let mix: Vec<String> = s
        .by_mechanism
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    crate::logging::status(&format!(
        "agenttrail synth: {} events in {} files, {:.1} MiB compressed, {:.1} s; labels: {}",
        s.events,
        s.files,
        s.bytes as f64 / 1048576.0,
        started.elapsed().as_secs_f64(),
        mix.join(", ")
    ));
    Ok(ExitStatus::Success)
}
