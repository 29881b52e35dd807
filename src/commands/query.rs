//! `agenttrail query`.

use std::io::Write;

use crate::cli::QueryArgs;
use crate::exit::ExitStatus;
use crate::query::{build_context, run_sql};
use crate::render::write_batches;
use crate::sink::Lake;

/// Open a lake for reading: a folder that must already be a lake, or an S3 lake.
pub async fn open_lake(uri: &str) -> anyhow::Result<Lake> {
    if uri.starts_with("s3://") {
        return Ok(Lake::resolve(uri, &crate::env_vars::cache_dir()).await?);
    }
    let path = std::path::Path::new(uri);
    if !path.join("_manifest").is_dir() {
        anyhow::bail!(
            "{uri} is not an agenttrail lake (no _manifest/); run `agenttrail ingest` first"
        );
    }
    Ok(Lake::open(path))
}

/// Run one statement and print its result to stdout.
pub async fn run(args: QueryArgs) -> anyhow::Result<ExitStatus> {
    let lake = open_lake(&args.lake).await?;
    let settings = crate::settings::Settings::load(args.config.as_deref())?;
    let ctx = build_context(&lake, &settings).await?;
    let (schema, batches) = run_sql(&ctx, &args.sql, false).await?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    write_batches(&mut out, &schema, &batches, args.format)?;
    out.flush()?;
    Ok(ExitStatus::Success)
}
