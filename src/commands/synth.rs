//! `agenttrail synth`.

use crate::cli::{SynthArgs, SynthDigestsArgs};
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
    if args.digests {
        sign_trail(
            &args.out,
            None,
            None,
            "example-trail-bucket",
            "example-trail",
            "us-east-1",
        )?;
    }
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

/// `agenttrail synth-digests`.
pub fn run_digests(args: SynthDigestsArgs) -> anyhow::Result<ExitStatus> {
    sign_trail(
        &args.trail,
        args.signing_key.as_deref(),
        args.write_signing_key.as_deref(),
        &args.bucket,
        &args.trail_name,
        &args.home_region,
    )?;
    Ok(ExitStatus::Success)
}

fn sign_trail(
    trail: &std::path::Path,
    key: Option<&std::path::Path>,
    keep_key: Option<&std::path::Path>,
    bucket: &str,
    trail_name: &str,
    home_region: &str,
) -> anyhow::Result<()> {
    use crate::integrity::forge::{Signer, TrailSpec, write_digests};
    use anyhow::Context;
    let signer = match key {
        Some(p) => {
            let der = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
            Signer::from_pkcs8(&der).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
        }
        None => Signer::generate().map_err(|e| anyhow::anyhow!("key generation: {e}"))?,
    };
    if let Some(p) = keep_key {
        std::fs::write(p, signer.pkcs8().map_err(|e| anyhow::anyhow!(e))?)
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    // Replace earlier digests: a second signing must not leave a stale chain beside the new one.
    remove_digests(trail)?;
    let spec = TrailSpec {
        bucket: bucket.to_string(),
        trail: trail_name.to_string(),
        home_region: home_region.to_string(),
    };
    let written = write_digests(trail, &spec, &signer).map_err(|e| anyhow::anyhow!(e))?;
    crate::logging::status(&format!(
        "agenttrail synth-digests: {} digests signed with key {} under {}",
        written.len(),
        signer.fingerprint,
        trail.display()
    ));
    Ok(())
}

fn remove_digests(root: &std::path::Path) -> anyhow::Result<()> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let p = e?.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n == "CloudTrail-Digest") {
                    std::fs::remove_dir_all(&p)?;
                } else {
                    stack.push(p);
                }
            }
        }
    }
    Ok(())
}
