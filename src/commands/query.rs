//! `agenttrail query`.

use std::io::Write;

use crate::cli::QueryArgs;
use crate::exit::ExitStatus;
use crate::query::{build_context, run_sql};
use crate::render::write_batches;
use crate::sink::Lake;

/// Fail clearly when `lake` is not a lake.
pub fn ensure_lake(lake: &std::path::Path) -> anyhow::Result<()> {
    if !lake.join("_manifest").is_dir() {
        anyhow::bail!(
            "{} is not an agenttrail lake (no _manifest/); run `agenttrail ingest` first",
            lake.display()
        );
    }
    Ok(())
}

/// Run one statement and print its result to stdout.
pub async fn run(args: QueryArgs) -> anyhow::Result<ExitStatus> {
    if !args.lake.join("_manifest").is_dir() {
        anyhow::bail!(
            "{} is not an agenttrail lake (no _manifest/); run `agenttrail ingest` first",
            args.lake.display()
        );
    }
    let settings = crate::settings::Settings::load(args.config.as_deref())?;
    let ctx = build_context(&Lake::open(&args.lake), &settings).await?;
    let (schema, batches) = run_sql(&ctx, &args.sql, false).await?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    write_batches(&mut out, &schema, &batches, args.format)?;
    out.flush()?;
    Ok(ExitStatus::Success)
}
