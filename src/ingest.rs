//! The ingest pipeline: source → decode → sink, with a summary.
//!
//! Objects already in the lake's ledger (same URI and version) are skipped, so re-running is always
//! safe and cheap. Objects are read in order of their delivery time (the time in their file name),
//! up to `fetch_concurrency` fetched at once; each is decoded on rayon; decoded objects are added,
//! in that order, to a pending commit (which encodes their events into the commit's files at
//! once) that is written when it reaches `commit_rows` rows (and at the end). An object that
//! cannot be fetched is reported and left out of the ledger, so the next run retries it; an object
//! that cannot be decoded is recorded in `rejects` with its reason and marked ingested (its bytes
//! will not change).

use std::collections::BTreeMap;
use std::time::Instant;

use futures::StreamExt;
use tracing::{info, warn};

use crate::decode::to_arrow::rejects_batch;
use crate::decode::{DecodeLimits, decode_object};
use crate::runtime::spawn_cpu;
use crate::sink::ledger::{Ledger, SourceEntry};
use crate::sink::{CommitReport, Lake, PendingCommit, SinkError};
use crate::source::{KeyFilter, Source, SourceError, SourceObject};

/// Ingest settings.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Object selection from keys.
    pub filter: KeyFilter,
    /// GETs in flight at once.
    pub fetch_concurrency: usize,
    /// Rows per commit (a commit is also written at the end).
    pub commit_rows: usize,
    /// Cap on an object's compressed size.
    pub max_object_bytes: u64,
    /// Decode limits.
    pub limits: DecodeLimits,
    /// Keys per ListObjectsV2 page (S3's default when `None`).
    pub list_page_size: Option<i32>,
    /// List every key, not only the delivery dates where new objects can be (see `source::plan`).
    pub full_scan: bool,
    /// Days listed before the latest delivery date already ingested.
    pub lookback_days: u32,
    /// Record each object's SHA-256 for the digest check when the trail has digests.
    pub hash_for_digests: bool,
}

/// Default rows per commit: one commit's encoded pages, and two commits' keys (one filling while
/// the other is written), are in memory at once.
pub const DEFAULT_COMMIT_ROWS: usize = 100_000;

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            filter: KeyFilter::default(),
            fetch_concurrency: 16,
            commit_rows: DEFAULT_COMMIT_ROWS,
            max_object_bytes: 256 << 20,
            limits: DecodeLimits::default(),
            list_page_size: None,
            full_scan: false,
            lookback_days: crate::source::plan::DEFAULT_LOOKBACK_DAYS,
            hash_for_digests: true,
        }
    }
}

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct IngestSummary {
    /// Objects listed (before any skip).
    pub objects_listed: u64,
    /// Objects read and committed (including those recorded as object-level rejects).
    pub objects_read: u64,
    /// Objects skipped, by reason (`digest`, `filtered`, `already-ingested`, …).
    pub objects_skipped: BTreeMap<String, u64>,
    /// Objects that could not be fetched or decoded, with the reason.
    pub objects_failed: Vec<(String, String)>,
    /// Records written to `events`.
    pub records_ingested: u64,
    /// Records written to `rejects`.
    pub records_rejected: u64,
    /// Records dropped as duplicates within a commit.
    pub records_duplicate: u64,
    /// Commits written.
    pub commits: u64,
    /// ListObjectsV2 requests the listing made (0 for a local folder).
    pub list_requests: u64,
    /// Wall time.
    pub seconds: f64,
    /// Earliest and latest `event_time` among the records read (None when none were).
    pub event_time_range: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
    /// What the source listing found (log files and digests): the digest check reuses it, so a
    /// run lists the trail once.
    pub listing: crate::source::Listing,
}

impl IngestSummary {
    /// One line for humans.
    pub fn line(&self) -> String {
        let skipped: u64 = self.objects_skipped.values().sum();
        let detail = self
            .objects_skipped
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "objects: {} read, {} skipped{}, {} failed; records: {} ingested, {} rejected, {} duplicate; {}{:.2} s",
            self.objects_read,
            skipped,
            if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            },
            self.objects_failed.len(),
            self.records_ingested,
            self.records_rejected,
            self.records_duplicate,
            if self.list_requests > 0 {
                format!("{} list requests; ", self.list_requests)
            } else {
                String::new()
            },
            self.seconds
        )
    }
}

/// Errors that stop an ingest as a whole (a single bad object never does).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Listing failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The lake could not be written.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// Progress callbacks; the CLI draws a bar, tests pass [`NoProgress`].
pub trait IngestReporter: Send + Sync {
    /// The number of objects to read is known.
    fn on_start(&self, _objects: u64) {}
    /// One object was handled.
    fn on_object_done(&self, _bytes: u64) {}
    /// All done.
    fn on_finish(&self) {}
}

/// A reporter that reports nothing.
pub struct NoProgress;
impl IngestReporter for NoProgress {}

/// Run one ingest from `source` into `lake`.
pub async fn ingest(
    source: &Source,
    lake: &Lake,
    opts: &IngestOptions,
    reporter: &dyn IngestReporter,
) -> Result<IngestSummary, IngestError> {
    let started = Instant::now();
    let ledger = lake.ledger().await?;
    let mut summary = IngestSummary::default();
    // Only the delivery dates where new objects can be, unless asked to scan everything.
    let latest = ledger
        .sources
        .iter()
        .filter_map(|s| {
            let key = s.uri.strip_prefix("s3://").map_or(s.uri.as_str(), |rest| {
                rest.split_once('/').map_or("", |(_, k)| k)
            });
            crate::source::key::parse_key(key).map(|k| k.date)
        })
        .max();
    let dates = if opts.full_scan {
        None
    } else {
        crate::source::plan::date_range(
            latest,
            opts.lookback_days,
            &opts.filter,
            chrono::Utc::now().date_naive(),
        )
    };
    let listing_started = Instant::now();
    let listing = source
        .list_dates(&opts.filter, opts.list_page_size, dates)
        .await?;
    tracing::debug!(
        list_requests = listing.list_requests,
        objects = listing.objects.len(),
        ms = listing_started.elapsed().as_millis() as u64,
        "Source listed."
    );
    summary.list_requests = listing.list_requests;
    let ingested = ledger.ingested();
    summary.objects_listed = listing.objects.len() as u64 + listing.skipped.values().sum::<u64>();
    for (reason, n) in &listing.skipped {
        summary
            .objects_skipped
            .insert(reason.as_str().to_string(), *n);
    }
    let mut todo: Vec<SourceObject> = Vec::new();
    for obj in &listing.objects {
        if Ledger::contains(&ingested, &obj.uri, &obj.version) {
            *summary
                .objects_skipped
                .entry("already-ingested".into())
                .or_default() += 1;
        } else {
            todo.push(obj.clone());
        }
    }
    // In order of delivery time across accounts and Regions (the listing's order is by key:
    // account and Region first): each commit's events are encoded as they arrive, so a file's
    // pages then each span a short stretch of time, which is what a window's pruning needs.
    todo.sort_by(|a, b| delivery_stamp(&a.key).cmp(delivery_stamp(&b.key)));
    summary.listing = listing;
    drop(ingested);
    drop(ledger);
    info!(source = %source.describe(), lake = %lake.describe(), objects = todo.len(), "Ingest started.");
    reporter.on_start(todo.len() as u64);

    let mut limits = opts.limits;
    limits.sha256 = opts.hash_for_digests && !summary.listing.digests.is_empty();
    let max_bytes = opts.max_object_bytes;
    let mut results = futures::stream::iter(todo)
        .map(|obj| async move {
            let fetched = source.fetch(&obj, max_bytes).await;
            let decoded = match fetched {
                Ok(bytes) => {
                    let uri = obj.uri.clone();
                    spawn_cpu(move || decode_object(&uri, &bytes, &limits))
                        .await
                        .map_err(|p| format!("decoder panicked: {p}"))
                }
                Err(e) => Err(e.to_string()),
            };
            (obj, decoded)
        })
        // In order: each file's rows are then in delivery order whatever the fetches' timing.
        .buffered(opts.fetch_concurrency.max(1));

    let mut pending = PendingCommit::default();
    // At most one commit is written while the next one fills: decoding goes on during the
    // Parquet encoding, and commits still land one after another, in order.
    let mut writing: Option<tokio::task::JoinHandle<Result<CommitReport, SinkError>>> = None;
    while let Some((obj, decoded)) = results.next().await {
        reporter.on_object_done(obj.size);
        let decoded = match decoded {
            Ok(d) => d,
            Err(e) => {
                warn!(uri = %obj.uri, error = %e, "Object failed; it will be retried by the next run.");
                summary.objects_failed.push((obj.uri.clone(), e));
                continue;
            }
        };
        if let Some(err) = &decoded.object_error {
            warn!(uri = %obj.uri, error = %err, "Object could not be decoded; recorded in rejects.");
            summary.objects_failed.push((obj.uri.clone(), err.clone()));
        }
        summary.objects_read += 1;
        let rejected = decoded.rejects.len() as u64;
        let rows = decoded.events.num_rows() as u64;
        let entry = SourceEntry {
            uri: obj.uri.clone(),
            version: obj.version.clone(),
            size: obj.size,
            records: decoded.records_seen as u64,
            rejected,
            duplicates: 0,
            error: decoded.object_error.clone(),
            sha256: decoded.sha256.clone(),
        };
        if let Some((lo, hi)) = time_range(&decoded.events) {
            summary.event_time_range = Some(match summary.event_time_range {
                Some((a, b)) => (a.min(lo), b.max(hi)),
                None => (lo, hi),
            });
        }
        let rejects = rejects_batch(&obj.uri, &decoded.rejects);
        summary.records_ingested += rows;
        pending.add(lake, entry, decoded.events, rejects).await?;
        summary.records_rejected += if decoded.object_error.is_some() {
            0
        } else {
            rejected
        };
        if pending.event_rows >= opts.commit_rows {
            wait_for(writing.take(), &mut summary).await?;
            writing = Some(start_commit(
                lake,
                std::mem::take(&mut pending),
                &mut summary,
            ));
        }
    }
    wait_for(writing.take(), &mut summary).await?;
    if pending.objects() > 0 {
        wait_for(
            Some(start_commit(lake, pending, &mut summary)),
            &mut summary,
        )
        .await?;
    }
    reporter.on_finish();
    summary.seconds = started.elapsed().as_secs_f64();
    info!(
        objects_read = summary.objects_read,
        objects_failed = summary.objects_failed.len(),
        records_ingested = summary.records_ingested,
        records_rejected = summary.records_rejected,
        records_duplicate = summary.records_duplicate,
        seconds = summary.seconds,
        "Ingest finished."
    );
    Ok(summary)
}

/// The delivery time in a CloudTrail object's file name
/// (`<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<id>.json.gz`), as text that sorts in time
/// order; empty for a name of another form (those sort first, in listing order).
fn delivery_stamp(key: &str) -> &str {
    let name = key.rsplit('/').next().unwrap_or(key);
    name.split('_')
        .nth(3)
        .filter(|s| s.len() == 14 && s.as_bytes()[8] == b'T' && s.ends_with('Z'))
        .unwrap_or("")
}

fn time_range(
    batch: &arrow::array::RecordBatch,
) -> Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> {
    use arrow::array::AsArray;
    use chrono::TimeZone;
    let t = batch
        .column_by_name("event_time")?
        .as_primitive_opt::<arrow::datatypes::TimestampMicrosecondType>()?;
    let lo = arrow::compute::min(t)?;
    let hi = arrow::compute::max(t)?;
    Some((
        chrono::Utc.timestamp_micros(lo).single()?,
        chrono::Utc.timestamp_micros(hi).single()?,
    ))
}

/// Start writing `pending` as the next commit.
fn start_commit(
    lake: &Lake,
    pending: PendingCommit,
    summary: &mut IngestSummary,
) -> tokio::task::JoinHandle<Result<CommitReport, SinkError>> {
    tracing::debug!(
        rows = pending.event_rows,
        key_bytes = pending.key_bytes(),
        "Commit started."
    );
    // Duplicates were counted as ingested when their object was added; move them.
    summary.records_ingested -= pending.duplicates();
    summary.records_duplicate += pending.duplicates();
    let lake = lake.clone();
    tokio::spawn(async move { commit(&lake, pending).await })
}

/// Wait for the commit being written, if any.
async fn wait_for(
    writing: Option<tokio::task::JoinHandle<Result<CommitReport, SinkError>>>,
    summary: &mut IngestSummary,
) -> Result<(), SinkError> {
    let Some(handle) = writing else {
        return Ok(());
    };
    let report = handle.await.map_err(join_error)??;
    // Records the lake held already (an earlier delivery, or another worker) are duplicates too.
    summary.records_ingested -= report.events_already_stored;
    summary.records_duplicate += report.events_already_stored;
    summary.commits += 1;
    Ok(())
}

fn join_error(e: tokio::task::JoinError) -> SinkError {
    SinkError::Write {
        path: "commit".into(),
        message: e.to_string(),
    }
}

/// Write and commit `pending` (see `sink` for the order of its steps).
pub async fn commit(lake: &Lake, pending: PendingCommit) -> Result<CommitReport, SinkError> {
    let report = lake.commit(pending).await?;
    info!(commit = %report.id, events = report.events_inserted, already_stored = report.events_already_stored, sources = report.sources, "Commit written.");
    Ok(report)
}
