//! `agenttrail sessions`: list STS sessions, their tags, AI decision and downstream calls.

use std::io::Write;
use std::sync::Arc;

use datafusion::prelude::{col, lit};
use datafusion::scalar::ScalarValue;

use crate::cli::SessionsArgs;
use crate::exit::ExitStatus;
use crate::query::build_context;
use crate::render::write_batches;
use crate::settings::Settings;

/// Print the sessions table.
pub async fn run(args: SessionsArgs) -> anyhow::Result<ExitStatus> {
    let lake = super::query::open_lake(&args.lake).await?;
    let settings = Settings::load(args.config.as_deref())?;
    let ctx = build_context(&lake, &settings).await?;
    let mut df = ctx.sql(include_str!("sessions.sql")).await?;
    if args.ai_only {
        df = df.filter(col("is_ai"))?;
    }
    if let Some(since) = args.since {
        let t = since.resolve(crate::clock::now()?);
        let ts =
            ScalarValue::TimestampMicrosecond(Some(t.timestamp_micros()), Some(Arc::from("UTC")));
        df = df.filter(col("issued_at").gt_eq(lit(ts)))?;
    }
    let df = df.sort(vec![
        col("issued_at").sort(true, false),
        col("access_key_id").sort(true, false),
    ])?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect().await?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    write_batches(&mut out, &schema, &batches, args.format)?;
    out.flush()?;
    Ok(ExitStatus::Success)
}
