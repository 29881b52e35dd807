//! `agenttrail detect` and `agenttrail run`.

use std::io::Write;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::cli::{DetectArgs, DetectOptions, GlobalArgs, IngestArgs, RunArgs};
use crate::detect::{DetectionRun, catalog, query_error, run_all, stream_one};
use crate::exit::ExitStatus;
use crate::publish::datums::{bucket_start, buckets, finding_datums, job_datums};
use crate::publish::{PutMetricDataRequest, oldest_accepted, plan, plan_batch, requests, send};
use crate::render::{Format, head, write_batches, write_more, write_table};
use crate::settings::Settings;

async fn detect(
    lake: &str,
    opts: &DetectOptions,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> anyhow::Result<Vec<DetectionRun>> {
    // One snapshot of the lake for every context, the kept state and the days computed again.
    let lake = super::query::open_lake(lake).await?.pinned();
    let settings = Settings::load(opts.config.as_deref())?;
    let cat = load_catalog(opts)?;
    let Some(s) = since else {
        let ctx = crate::query::build_context(&lake, &settings).await?;
        return Ok(run_all(&ctx, &cat, since, until).await?);
    };
    // Each detection reads its window plus what it must see before it (its `lookback`), never
    // the whole lake: the detections that share a look-back share one query context, so one
    // with a 15-day baseline does not widen the others' reads. A context gets `ai_roles` (the
    // roles of every AI session of the lake) when one of its detections reads every session
    // (`-- sessions: all`).
    // The look-backs that reach into earlier days go first: their context of the window's day
    // (below) is then shared with the shorter ones it covers.
    let mut lookbacks: Vec<chrono::Duration> = cat.iter().map(|d| d.lookback).collect();
    lookbacks.sort_by(|a, b| b.cmp(a));
    lookbacks.dedup();
    let mut runs: Vec<Option<DetectionRun>> = vec![None; cat.len()];
    let mut day_context: Option<(
        datafusion::prelude::SessionContext,
        crate::query::Derivation,
    )> = None;
    for lookback in lookbacks {
        let (mut idx, mut group): (Vec<usize>, Vec<catalog::Detection>) = cat
            .iter()
            .enumerate()
            .filter(|(_, d)| d.lookback == lookback)
            .map(|(i, d)| (i, d.clone()))
            .unzip();
        // A look-back that reaches into earlier days: the detections that read only
        // `ai_api_days` run in a context of the window's own day, with the earlier days read as
        // kept in the lake (`query::kept`), not classified again. (Planned in a context whose
        // correlation tables are built only if one of them does.)
        let day = s.date_naive();
        if (s - lookback).date_naive() < day {
            let range = crate::query::TimeRange {
                since: Some(crate::query::kept::start_of(day)),
                until,
                every_role: false,
            };
            let (ctx, mut derivation) =
                crate::query::build_plain_context_in(&lake, &settings, range).await?;
            let sql: Vec<&str> = group.iter().map(|d| d.sql.as_str()).collect();
            let only = crate::query::kept::reads_only_kept(&ctx, &sql).await?;
            if only.contains(&true) {
                derivation.keep(&ctx, &lake, &settings).await?;
                derivation.build(&ctx).await?;
                let stats =
                    crate::query::kept::register(&ctx, &lake, &settings, s - lookback, day).await?;
                tracing::debug!(?stats, "Earlier days of the look-back read as kept.");
                let (mut mine, mut rest) = ((vec![], vec![]), (vec![], vec![]));
                for ((i, d), kept) in idx.into_iter().zip(group).zip(only) {
                    let to = if kept { &mut mine } else { &mut rest };
                    to.0.push(i);
                    to.1.push(d);
                }
                for (i, run) in mine
                    .0
                    .into_iter()
                    .zip(run_all(&ctx, &mine.1, since, until).await?)
                {
                    runs[i] = Some(run);
                }
                day_context = Some((ctx, derivation));
                (idx, group) = rest;
                if group.is_empty() {
                    continue;
                }
            }
        }
        let range = crate::query::TimeRange {
            since: Some(s - lookback),
            until,
            every_role: false,
        };
        // A range within the window's day shares that context's correlation tables (built for a
        // wider range, which only adds rows its events never look up). Otherwise `ai_roles` and
        // `ai_session_names`, which span every session of the lake, are read as kept in the lake
        // and brought up to date with the credentials added since (`query::kept`), not classified
        // again from every credential.
        let shared = match &day_context {
            Some((wide, derivation)) => derivation.narrow(wide, range).await?,
            None => None,
        };
        let ctx = match shared {
            Some(ctx) => {
                tracing::debug!(?range, "Correlation tables shared with the day's context.");
                ctx
            }
            None => crate::query::build_kept_context_in(&lake, &settings, range).await?,
        };
        for (i, run) in idx
            .into_iter()
            .zip(run_all(&ctx, &group, since, until).await?)
        {
            runs[i] = Some(run);
        }
    }
    Ok(runs.into_iter().flatten().collect())
}

/// The detections of `--queries`, narrowed to `--only`.
fn load_catalog(opts: &DetectOptions) -> anyhow::Result<Vec<catalog::Detection>> {
    let mut cat = catalog::load(&opts.queries)
        .with_context(|| format!("cannot load detections from {}", opts.queries.display()))?;
    if !opts.only.is_empty() {
        for id in &opts.only {
            if !cat.iter().any(|d| &d.id == id) {
                anyhow::bail!("no detection {id:?} in {}", opts.queries.display());
            }
        }
        cat.retain(|d| opts.only.contains(&d.id));
    }
    Ok(cat)
}

/// A whole-lake `detect` that publishes nothing, in table, CSV or NDJSON: each detection's
/// findings are printed as soon as it is done and only its count is kept, so memory holds one
/// detection's rows at a time. (At 5M events the ten detections found 2.4M rows, +1.5 GiB when
/// all were kept until the last was done.) In CSV and NDJSON each batch is written as the sorted
/// findings stream out, so they are not held a second time after the sort. The output is the
/// same as [`print_findings`]'s.
async fn detect_streaming(lake: &str, opts: &DetectOptions) -> anyhow::Result<ExitStatus> {
    use futures::StreamExt;
    let lake = super::query::open_lake(lake).await?;
    let settings = Settings::load(opts.config.as_deref())?;
    let cat = load_catalog(opts)?;
    let ctx = crate::query::build_context(&lake, &settings).await?;
    let mut counts: Vec<(String, usize)> = Vec::with_capacity(cat.len());
    let mut first_schema = None;
    let mut header_written = false;
    let stdout = std::io::stdout();
    for d in &cat {
        let started = std::time::Instant::now();
        let rows = if matches!(opts.format, Format::Csv | Format::Ndjson) {
            let (schema, mut stream) = stream_one(&ctx, d, None, None).await?;
            first_schema.get_or_insert_with(|| schema.clone());
            let mut rows = 0;
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| query_error(d, &e))?;
                if batch.num_rows() == 0 {
                    continue;
                }
                rows += batch.num_rows();
                write_more(
                    &mut stdout.lock(),
                    &schema,
                    &batch,
                    opts.format,
                    header_written,
                )?;
                header_written = true;
            }
            rows
        } else {
            // A table keeps only the rows it shows (`--max-rows`) and counts the rest.
            let (schema, stream) = stream_one(&ctx, d, None, None).await?;
            let (shown, rows) = head(stream, opts.max_rows)
                .await
                .map_err(|e| query_error(d, &e))?;
            if rows > 0 {
                print_section(&mut stdout.lock(), d, &schema, &shown, rows)?;
            }
            rows
        };
        stdout.lock().flush()?;
        tracing::debug!(
            detection = %d.id,
            rows,
            ms = started.elapsed().as_millis() as u64,
            peak_rss_mib = crate::query::peak_rss_mib(),
            "Detection run."
        );
        counts.push((d.id.clone(), rows));
    }
    if opts.format == Format::Csv
        && !header_written
        && let Some(schema) = first_schema
    {
        let mut out = stdout.lock();
        write_batches(&mut out, &schema, &[], Format::Csv)?;
        out.flush()?;
    }
    report_counts(&counts);
    Ok(exit_status(counts.iter().any(|(_, n)| *n > 0), opts, true))
}

/// One fired detection in table format: its heading, its findings (`shown` of `total`), a blank
/// line.
fn print_section(
    out: &mut dyn Write,
    d: &catalog::Detection,
    schema: &arrow::datatypes::SchemaRef,
    shown: &[arrow::array::RecordBatch],
    total: usize,
) -> anyhow::Result<()> {
    writeln!(out, "== {} ({}): {}", d.id, d.severity, d.summary)?;
    write_table(out, schema, shown, total)?;
    writeln!(out)?;
    Ok(())
}

/// The first `max` rows of `batches` (all for 0), sliced, not copied.
fn first_rows(batches: &[arrow::array::RecordBatch], max: usize) -> Vec<arrow::array::RecordBatch> {
    let mut out = Vec::new();
    let mut left = if max == 0 { usize::MAX } else { max };
    for b in batches {
        if left == 0 {
            break;
        }
        let n = b.num_rows().min(left);
        out.push(b.slice(0, n));
        left -= n;
    }
    out
}

/// The status line: how many detections ran and fired, and each one's findings.
fn report_counts(counts: &[(String, usize)]) {
    let summary: Vec<String> = counts.iter().map(|(id, n)| format!("{id} {n}")).collect();
    crate::logging::status(&format!(
        "agenttrail detect: {} detections, {} fired; {}",
        counts.len(),
        counts.iter().filter(|(_, n)| *n > 0).count(),
        summary.join(", ")
    ));
}

fn print_findings(runs: &[DetectionRun], opts: &DetectOptions) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let fired: Vec<&DetectionRun> = runs.iter().filter(|r| r.rows() > 0).collect();
    match opts.format {
        Format::Table => {
            for r in &fired {
                let shown = first_rows(&r.batches, opts.max_rows);
                print_section(&mut out, &r.detection, &r.schema, &shown, r.rows())?;
            }
        }
        f => {
            let schema = runs.first().map(|r| r.schema.clone());
            if let Some(schema) = schema {
                let batches: Vec<_> = fired
                    .iter()
                    .flat_map(|r| r.batches.iter().cloned())
                    .collect();
                write_batches(&mut out, &schema, &batches, f)?;
            }
        }
    }
    out.flush()?;
    let counts: Vec<(String, usize)> = runs
        .iter()
        .map(|r| (r.detection.id.clone(), r.rows()))
        .collect();
    report_counts(&counts);
    Ok(())
}

/// What a publish did: requests and datums, and whether they were sent.
struct Published {
    requests: usize,
    datums: usize,
    sent: bool,
}

async fn publish(
    runs: &[DetectionRun],
    window: &[DateTime<Utc>],
    counters: &[(&str, u64)],
    opts: &DetectOptions,
    dry_run: bool,
) -> anyhow::Result<Published> {
    let now = crate::clock::now()?;
    let mut datums = finding_datums(runs, window);
    datums.extend(job_datums(now, counters));
    // A dry run shows every datum, those CloudWatch would refuse included (the sample logs age
    // past its two weeks), and says how many --publish would skip.
    let oldest = oldest_accepted(now);
    let too_old = datums.iter().filter(|d| d.timestamp < oldest).count();
    let (reqs, dropped) = requests(&opts.namespace, datums, (!dry_run).then_some(oldest));
    if dropped > 0 {
        tracing::warn!(
            dropped,
            "Skipping datums older than CloudWatch accepts (14 days)."
        );
    }
    let total: usize = reqs.iter().map(|r| r.metric_data.len()).sum();
    if dry_run {
        print_dry_run(&reqs, opts)?;
        crate::logging::status(&format!(
            "agenttrail publish: dry run, {} requests, {total} datums not sent (--publish sends them{}{})",
            reqs.len(),
            if too_old > 0 {
                format!(
                    "; {too_old} are older than the 14 days CloudWatch accepts, which --publish skips"
                )
            } else {
                String::new()
            },
            if opts.show_requests {
                ""
            } else {
                "; --show-requests prints them"
            }
        ));
        return Ok(Published {
            requests: reqs.len(),
            datums: total,
            sent: false,
        });
    }
    let client = crate::publish::client().await;
    let sent = send(&client, &reqs).await?;
    crate::logging::status(&format!(
        "agenttrail publish: {sent} datums sent in {} requests to namespace {}",
        reqs.len(),
        opts.namespace
    ));
    Ok(Published {
        requests: reqs.len(),
        datums: sent,
        sent: true,
    })
}

/// A dry run prints a short plan (one row per metric and dimension set) in table or CSV
/// format, and the whole PutMetricData requests with `--show-requests` or in JSON formats.
fn print_dry_run(reqs: &[PutMetricDataRequest], opts: &DetectOptions) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match opts.format {
        Format::Table | Format::Csv if !opts.show_requests => {
            let batch = plan_batch(&plan(reqs));
            if opts.format == Format::Table {
                writeln!(
                    out,
                    "== CloudWatch metrics (dry run, not sent; namespace {})",
                    opts.namespace
                )?;
            }
            write_batches(&mut out, &batch.schema(), &[batch], opts.format)?;
        }
        Format::Ndjson => {
            for r in reqs {
                serde_json::to_writer(&mut out, r)?;
                writeln!(out)?;
            }
        }
        Format::Json if !opts.show_requests => {
            serde_json::to_writer_pretty(&mut out, reqs)?;
            writeln!(out)?;
        }
        _ => {
            writeln!(out, "== PutMetricData requests (dry run, not sent)")?;
            for r in reqs {
                serde_json::to_writer_pretty(&mut out, r)?;
                writeln!(out)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn status(runs: &[DetectionRun], opts: &DetectOptions, ok: bool) -> ExitStatus {
    exit_status(runs.iter().any(|r| r.rows() > 0), opts, ok)
}

fn exit_status(any_findings: bool, opts: &DetectOptions, ok: bool) -> ExitStatus {
    if !ok {
        ExitStatus::Error
    } else if opts.fail_on_findings && any_findings {
        ExitStatus::Findings
    } else {
        ExitStatus::Success
    }
}

/// `agenttrail detect`.
pub async fn run(args: DetectArgs) -> anyhow::Result<ExitStatus> {
    if let Some(id) = &args.explain {
        let cat = catalog::load(&args.opts.queries).with_context(|| {
            format!(
                "cannot load detections from {}",
                args.opts.queries.display()
            )
        })?;
        let d = cat.iter().find(|d| &d.id == id).with_context(|| {
            let ids: Vec<&str> = cat.iter().map(|d| d.id.as_str()).collect();
            format!("no detection {id:?}; there are: {}", ids.join(", "))
        })?;
        let mut out = std::io::stdout().lock();
        // Detection files are the operator's own, but keep the terminal safe line by line.
        for line in d.explain().lines() {
            writeln!(out, "{}", crate::render::escape_control(line))?;
        }
        return Ok(ExitStatus::Success);
    }
    let lake = args.lake.clone().context("--lake is required")?;
    let now = crate::clock::now()?;
    let since = args.since.or(args.window).map(|s| s.resolve(now));
    let until = args.until.map(|s| s.resolve(now));
    if since.is_none()
        && until.is_none()
        && !args.publish
        && !args.opts.dry_run
        && args.opts.format != Format::Json
    {
        return detect_streaming(&lake, &args.opts).await;
    }
    let runs = detect(&lake, &args.opts, since, until).await?;
    print_findings(&runs, &args.opts)?;
    if args.publish || args.opts.dry_run {
        let start = since.context("--publish needs a window: give --since or --window")?;
        let end = until.unwrap_or(now);
        publish(
            &runs,
            &buckets(start, end),
            &[],
            &args.opts,
            !args.publish || args.opts.dry_run,
        )
        .await?;
    }
    Ok(status(&runs, &args.opts, true))
}

/// `agenttrail run`: ingest, then detect over the event-time span of what was ingested, then
/// publish (or print what would be published).
pub async fn run_job(args: RunArgs, global: &GlobalArgs) -> anyhow::Result<ExitStatus> {
    let ingest_args = IngestArgs {
        source: args.source.clone(),
        lake: args.lake.clone(),
        since: None,
        until: None,
        account: vec![],
        region: vec![],
        fetch_concurrency: None,
        commit_rows: crate::ingest::DEFAULT_COMMIT_ROWS,
        list_page_size: None,
        full_scan: args.full_scan,
        full_scan_days: args.full_scan_days,
        lookback_days: crate::source::plan::DEFAULT_LOOKBACK_DAYS,
        max_decompressed_mib: crate::decode::DEFAULT_MAX_DECOMPRESSED_MIB,
        max_record_mib: crate::decode::DEFAULT_MAX_RECORD_MIB,
        verify: args.verify.clone(),
    };
    // One scheduled run at a time publishes from an S3 lake: hold its lease for the whole job
    // (ingest, detect, publish and the owed-window state), so overlapping runs cannot publish the
    // same window twice. Ingest alone needs no lease: Delta commits are safe with several writers.
    let lake = crate::sink::Lake::resolve(&args.lake)
        .await
        .with_context(|| format!("cannot open the lake {}", args.lake))?;
    let lease = match lake.remote() {
        Some(remote) => Some(remote.lease().await?),
        None => None,
    };
    let result = job(args, ingest_args, global, &lake).await;
    if let Some(lease) = lease {
        lease.release().await?;
    }
    let (exit, record) = result?;
    crate::logging::summary("run", &record);
    Ok(exit)
}

async fn job(
    args: RunArgs,
    ingest_args: IngestArgs,
    global: &GlobalArgs,
    lake: &crate::sink::Lake,
) -> anyhow::Result<(ExitStatus, serde_json::Value)> {
    let started = std::time::Instant::now();
    let (ingest_status, summary, integrity) =
        super::ingest::run_with_summary(ingest_args, global).await?;
    // The window: every bucket touched by the events this run added (late events re-publish
    // their bucket with the full count), or the current bucket when nothing new arrived, widened
    // by any window an earlier run failed to publish.
    let now = crate::clock::now()?;
    let (mut start, mut end) = match summary.event_time_range {
        Some((lo, hi)) => (
            bucket_start(lo),
            bucket_start(hi) + chrono::Duration::seconds(300),
        ),
        None => (
            bucket_start(now),
            bucket_start(now) + chrono::Duration::seconds(300),
        ),
    };
    let publishing = args.publish && !args.opts.dry_run;
    // Buckets owed: this run's window, plus those of windows earlier runs failed to publish.
    let mut owed: Vec<DateTime<Utc>> = buckets(start, end);
    // Integrity problems are findings of `log_integrity` at the time they were found: publish
    // the current bucket too.
    if integrity.as_ref().is_some_and(|r| {
        r.rows
            .iter()
            .any(|row| row.status != crate::integrity::Status::Valid)
    }) {
        let b = bucket_start(now);
        owed.push(b);
        owed.sort();
        owed.dedup();
        start = start.min(b);
        end = end.max(b + chrono::Duration::seconds(300));
    }
    if publishing {
        for (s, e) in read_pending(lake).await? {
            tracing::info!(start = %s, end = %e, "Re-publishing a window an earlier run did not publish.");
            owed.extend(buckets(s, e));
            start = start.min(s);
            end = end.max(e);
        }
        owed.sort();
        owed.dedup();
        write_pending(lake, &owed).await?;
    }
    let runs = detect(&args.lake, &args.opts, Some(start), Some(end)).await?;
    print_findings(&runs, &args.opts)?;
    let mut counters = vec![
        ("RecordsIngested", summary.records_ingested),
        ("RecordsRejected", summary.records_rejected),
        ("ObjectsFailed", summary.objects_failed.len() as u64),
    ];
    if let Some(report) = &integrity {
        counters.extend(report.metric_counts());
    }
    let published = publish(&runs, &owed, &counters, &args.opts, !publishing).await?;
    if publishing {
        // Published: nothing is owed any more. (A crash before this line re-publishes the same
        // values next time, which the Maximum-based alarms absorb.)
        write_pending(lake, &[]).await?;
    }
    let exit = status(&runs, &args.opts, ingest_status == ExitStatus::Success);
    let mut record = run_summary(&summary, &runs, &published, exit, started.elapsed());
    if let Some(report) = &integrity {
        record["integrity"] = super::verify::report_json(report);
    }
    Ok((exit, record))
}

/// The end-of-run record: what CloudWatch Logs Insights queries to chart a job's health.
fn run_summary(
    ingest: &crate::ingest::IngestSummary,
    runs: &[DetectionRun],
    published: &Published,
    exit: ExitStatus,
    elapsed: std::time::Duration,
) -> serde_json::Value {
    let findings: serde_json::Map<String, serde_json::Value> = runs
        .iter()
        .map(|r| (r.detection.id.clone(), (r.rows() as u64).into()))
        .collect();
    let mut v = ingest_summary_json(ingest);
    v["findings"] = findings.into();
    v["findings_total"] = runs.iter().map(|r| r.rows() as u64).sum::<u64>().into();
    v["metrics"] = serde_json::json!({
        "requests": published.requests,
        "datums": published.datums,
        "published": published.sent,
    });
    v["exit_status"] = (exit as u8).into();
    v["seconds"] = ((elapsed.as_secs_f64() * 1000.0).round() / 1000.0).into();
    v
}

/// The ingest part of a summary record (shared by `ingest` and `run`).
pub fn ingest_summary_json(s: &crate::ingest::IngestSummary) -> serde_json::Value {
    serde_json::json!({
        "objects": {
            "listed": s.objects_listed,
            "read": s.objects_read,
            "skipped": s.objects_skipped.values().sum::<u64>(),
            "skipped_by_reason": s.objects_skipped,
            "failed": s.objects_failed.len(),
            "failed_objects": s.objects_failed.iter().map(|(o, _)| o.as_str()).collect::<Vec<_>>(),
        },
        "records": {
            "ingested": s.records_ingested,
            "rejected": s.records_rejected,
            "duplicate": s.records_duplicate,
        },
        "commits": s.commits,
        "list_requests": s.list_requests,
        "ingest_seconds": (s.seconds * 1000.0).round() / 1000.0,
    })
}

/// Where a run keeps the windows it owes CloudWatch: in the lake, so that a scheduled job on a
/// fresh machine (ECS Fargate) still finds what the previous run failed to publish.
const PENDING: &str = "_publish_pending.json";

/// Windows earlier runs failed to publish, as (start, end) pairs of contiguous buckets.
async fn read_pending(
    lake: &crate::sink::Lake,
) -> anyhow::Result<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
    let Some(text) = lake.read_state(PENDING).await? else {
        return Ok(Vec::new());
    };
    let Ok(v) = serde_json::from_slice::<Vec<(String, String)>>(&text) else {
        tracing::warn!(
            file = PENDING,
            "Ignoring an unreadable pending-publish file."
        );
        return Ok(Vec::new());
    };
    Ok(v.iter()
        .filter_map(|(s, e)| {
            Some((
                s.parse::<DateTime<Utc>>().ok()?,
                e.parse::<DateTime<Utc>>().ok()?,
            ))
        })
        .collect())
}

/// Record `owed` buckets as contiguous windows (an empty list once everything is published).
/// Locally: temp file + rename; on S3: one PUT, which replaces the object atomically.
async fn write_pending(lake: &crate::sink::Lake, owed: &[DateTime<Utc>]) -> anyhow::Result<()> {
    let step = chrono::Duration::seconds(crate::publish::datums::BUCKET_SECONDS);
    let mut windows: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for b in owed {
        match windows.last_mut() {
            Some((_, e)) if *e == *b => *e = *b + step,
            _ => windows.push((*b, *b + step)),
        }
    }
    let body: Vec<(String, String)> = windows
        .iter()
        .map(|(s, e)| (s.to_rfc3339(), e.to_rfc3339()))
        .collect();
    if owed.is_empty()
        && let Some(root) = lake.local_root()
    {
        // Nothing owed: a local lake keeps no file (an S3 lake keeps an empty list, needing no
        // s3:DeleteObject).
        let _ = std::fs::remove_file(root.join(PENDING));
        return Ok(());
    }
    lake.write_state(PENDING, serde_json::to_vec(&body)?)
        .await?;
    Ok(())
}
