//! `agenttrail report`: one self-contained HTML page about the AI activity in a time range.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use arrow::util::display::array_value_to_string;
use datafusion::prelude::SessionContext;

use crate::cli::ReportArgs;
use crate::detect::{catalog, run_all};
use crate::exit::ExitStatus;
use crate::query::build_context_in;
use crate::report::{HourBucket, ReportData, render};
use crate::settings::Settings;

async fn table(ctx: &SessionContext, sql: &str) -> anyhow::Result<Vec<RecordBatch>> {
    Ok(ctx.sql(sql).await?.collect().await?)
}

fn text(b: &RecordBatch, c: usize, r: usize) -> String {
    let col = b.column(c);
    if col.is_null(r) {
        String::new()
    } else {
        array_value_to_string(col, r).unwrap_or_default()
    }
}

fn num(b: &RecordBatch, c: usize, r: usize) -> u64 {
    b.column(c)
        .as_primitive_opt::<Int64Type>()
        .map(|a| a.value(r).max(0) as u64)
        .unwrap_or(0)
}

/// Build and write the report.
pub async fn run(args: ReportArgs) -> anyhow::Result<ExitStatus> {
    let lake = super::query::open_lake(&args.lake).await?;
    let settings = Settings::load(args.config.as_deref())?;
    let range = super::query::time_range(args.since, args.until)?;
    let ctx = build_context_in(&lake, &settings, range).await?;
    let mut d = ReportData {
        title: format!(
            "Lake {} · events from {} to {}",
            args.lake,
            range
                .since
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "the beginning".into()),
            range
                .until
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "now".into())
        ),
        ..Default::default()
    };
    for b in table(&ctx, include_str!("report_hours.sql")).await? {
        for r in 0..b.num_rows() {
            d.hours.push(HourBucket {
                hour: text(&b, 0, r),
                ai: num(&b, 1, r),
                human: num(&b, 2, r),
            });
        }
    }
    for b in table(&ctx, include_str!("report_servers.sql")).await? {
        for r in 0..b.num_rows() {
            d.servers
                .push((text(&b, 0, r), text(&b, 1, r), num(&b, 2, r)));
        }
    }
    for b in table(&ctx, include_str!("report_sessions.sql")).await? {
        for r in 0..b.num_rows() {
            d.sessions.push((
                text(&b, 0, r),
                text(&b, 1, r),
                text(&b, 2, r),
                num(&b, 3, r),
                num(&b, 4, r),
                num(&b, 5, r),
            ));
        }
    }
    let detections = catalog::load(&args.queries)?;
    for run in run_all(&ctx, &detections, range.since, range.until).await? {
        let n = run.rows() as u64;
        let last = run.batches.iter().rev().find(|b| b.num_rows() > 0);
        let (t, actor, evidence) = match last {
            Some(b) => {
                let r = b.num_rows() - 1;
                let col = |name: &str| {
                    b.schema()
                        .index_of(name)
                        .map(|i| text(b, i, r))
                        .unwrap_or_default()
                };
                (col("event_time"), col("actor_arn"), col("evidence"))
            }
            None => Default::default(),
        };
        d.findings.push((
            run.detection.id.clone(),
            run.detection.severity.clone(),
            n,
            t,
            actor,
            evidence,
            run.detection.mitre.join(", "),
        ));
    }
    let page = render(&d);
    let tmp = args.out.with_extension("html.tmp");
    std::fs::write(&tmp, page)?;
    std::fs::rename(&tmp, &args.out)?;
    crate::logging::status(&format!("agenttrail report: wrote {}", args.out.display()));
    Ok(ExitStatus::Success)
}
