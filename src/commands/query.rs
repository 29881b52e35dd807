//! `agenttrail query`.

use std::io::Write;

use anyhow::Context;

use crate::cli::{QueryArgs, Since};
use crate::exit::ExitStatus;
use crate::query::{TimeRange, build_plain_context_in, needs_derived, run_sql_stream};
use crate::render::write_result;
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

/// Write `stream` to the Parquet file `path` as it comes (a temporary file renamed when complete,
/// removed on an error: never a half-written file at `path`); the rows written.
pub async fn write_parquet(
    path: &std::path::Path,
    schema: &arrow::datatypes::SchemaRef,
    mut stream: datafusion::execution::SendableRecordBatchStream,
) -> anyhow::Result<usize> {
    use futures::StreamExt;
    let tmp = path.with_extension("parquet.tmp");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let written = async {
        let mut w = parquet::arrow::ArrowWriter::try_new(
            file,
            schema.clone(),
            Some(crate::sink::parquet::writer_properties()),
        )?;
        let mut rows = 0;
        while let Some(b) = stream.next().await {
            let b = b?;
            rows += b.num_rows();
            w.write(&b)?;
        }
        w.close()?;
        anyhow::Ok(rows)
    }
    .await;
    let rows = match written {
        Ok(rows) => rows,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(rows)
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
    // Parquet, CSV and NDJSON are written as the rows stream out, so an export of millions of
    // rows is never all in memory; a table keeps the rows it shows, a JSON array every row.
    let (schema, stream) = run_sql_stream(&ctx, &sql, args.allow_writes).await?;
    if let Some(path) = &args.output {
        let rows = write_parquet(path, &schema, stream).await?;
        crate::logging::status(&format!(
            "agenttrail query: wrote {rows} rows to {}",
            path.display()
        ));
        return Ok(ExitStatus::Success);
    }
    let stdout = std::io::stdout();
    write_result(
        &mut stdout.lock(),
        &schema,
        stream,
        args.format,
        args.max_rows,
    )
    .await?;
    stdout.lock().flush()?;
    Ok(ExitStatus::Success)
}
