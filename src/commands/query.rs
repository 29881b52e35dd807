//! `agenttrail query`.

use std::io::Write;

use anyhow::Context;

use crate::cli::{QueryArgs, Since};
use crate::exit::ExitStatus;
use crate::query::{TimeRange, build_plain_context_in, needs_derived, run_sql};
use crate::render::write_batches;
use crate::settings::Settings;
use crate::sink::Lake;

/// Open a lake for reading: a folder that must already be a lake, or an S3 lake.
pub async fn open_lake(uri: &str) -> anyhow::Result<Lake> {
    if uri.starts_with("s3://") {
        return Ok(Lake::resolve(uri).await?);
    }
    let path = std::path::Path::new(uri);
    if !path.join("events/_delta_log").is_dir() && !path.join("ingested/_delta_log").is_dir() {
        anyhow::bail!(
            "{uri} is not an agenttrail lake (no events/_delta_log/); run `agenttrail ingest` first"
        );
    }
    Ok(Lake::open(path))
}

/// The time range given by `--since`/`--until`.
pub fn time_range(
    since: Option<Since>,
    until: Option<Since>,
) -> Result<TimeRange, crate::clock::ClockError> {
    let now = crate::clock::now()?;
    Ok(TimeRange {
        since: since.map(|s| s.resolve(now)),
        until: until.map(|u| u.resolve(now)),
        every_role: false,
    })
}

/// Write batches to a Parquet file (written whole to a temporary name, then renamed).
pub fn write_parquet(
    path: &std::path::Path,
    schema: &arrow::datatypes::SchemaRef,
    batches: &[arrow::array::RecordBatch],
) -> anyhow::Result<()> {
    let tmp = path.with_extension("parquet.tmp");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut w = parquet::arrow::ArrowWriter::try_new(
        file,
        schema.clone(),
        Some(crate::sink::parquet::writer_properties()),
    )?;
    for b in batches {
        w.write(b)?;
    }
    w.close()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Run one statement and print its result to stdout (or write it to `--output`).
pub async fn run(args: QueryArgs) -> anyhow::Result<ExitStatus> {
    let lake = open_lake(&args.lake).await?;
    let sql = match (&args.sql, &args.file) {
        (_, Some(f)) => {
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?
        }
        (Some(s), None) => s.clone(),
        (None, None) => anyhow::bail!("give a SQL statement or -f FILE"),
    };
    let settings = Settings::load(args.config.as_deref())?;
    let mut range = time_range(args.since, args.until)?;
    // `ai_roles` spans the whole lake even in a limited context; built only when asked for.
    range.every_role = sql.to_ascii_lowercase().contains("ai_roles");
    // The correlation tables are built only for a statement that reads them or the AI labels:
    // one over the raw columns (`SELECT count(*) FROM events`, a search by event name) runs
    // in a context where they are empty, planned the same way.
    let (ctx, derivation) = build_plain_context_in(&lake, &settings, range).await?;
    if needs_derived(&ctx, &sql).await {
        derivation.build(&ctx).await?;
    } else {
        tracing::debug!("The statement reads no correlation table; none was built.");
    }
    let (schema, batches) = run_sql(&ctx, &sql, args.allow_writes).await?;
    if let Some(path) = &args.output {
        write_parquet(path, &schema, &batches)?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        crate::logging::status(&format!(
            "agenttrail query: wrote {rows} rows to {}",
            path.display()
        ));
        return Ok(ExitStatus::Success);
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    write_batches(&mut out, &schema, &batches, args.format)?;
    out.flush()?;
    Ok(ExitStatus::Success)
}
