//! Whole days of `ai_api_days` kept in the lake between runs.
//!
//! `ai_first_seen_api` compares a window's AI-driven calls with the 14 days before it. Classifying
//! those 14 days again on every scheduled run made a run's cost follow the history, not the new
//! data. A day's rows of `ai_api_days` (one per principal, API and day) are a function of the
//! day's events and of the facts their classification reads, so `detect` keeps them, one file per
//! day, with a record of both, and uses a kept day only while both are as recorded:
//! - the day's events: the paths of the events table's files in the day's date partition (a
//!   Delta file is never rewritten in place: a late event, a duplicate merged or a compaction
//!   changes the set) and the table's version. When the set changed, the log's commits since
//!   that version tell a compaction (`lake optimize`: adds and removes with `dataChange: false`,
//!   same rows) from a change; after a compaction only, the day stays kept and its record is
//!   renewed to the new files;
//! - the facts: every fact the classification of the day's calls can read. The credentials of
//!   the access keys its calls use and of their chains' ancestors, up to the first caller not in
//!   the lake (its `AssumeRole` arriving later is then one of them); the credentials sharing a
//!   role and session name with a call that has no access key, and their ancestors; the sign-in
//!   grants of the sign-in sessions its calls name. Classification of a session reads only the
//!   session and its ancestors (`correlate::sessions`), and the columns of `ai_api_days` read no
//!   other correlation table (not `mcp_links` nor the inferred links). The day records those
//!   keys and the versions of the fact tables it was classified at; a later run reads only the
//!   fact files added since (Delta versions, from the log's commits) and computes the day again
//!   if one of their rows has one of its keys, or if a commit removed rows. A compaction moves
//!   rows without changing them, so it changes nothing (the files it folded away are read where
//!   they stay until `lake vacuum`). A late
//!   `AssumeRole` that explains a kept day's calls is such a row; the new sessions of every run
//!   are not, and leave it kept. What a run checked is noted (`checked-ai_api_days.json`), so
//!   the next run reads only the facts added after it: the check costs what is new;
//! - the definitions: this version of agenttrail, `FORMAT`, `events.sql`, `ai_api_days.sql` and
//!   the classification settings.
//!
//! The answer is therefore the one computed from the lake as it is now, in any ingestion order.
//! A kept day is one Parquet file under `_kept/ai_api_days/`, replaced whole (one PUT on S3, a
//! rename locally), so two workers keeping the same day write the same rows and a crash leaves
//! the previous file or none. A lake that cannot be written (a read-only investigator) gets its
//! days computed and not kept, with a warning. A day without event files has no rows whatever
//! the facts, and nothing is kept for it. Stale days are computed in one context up to
//! `COMPUTE_EVENTS` events, so that a first run over a long history holds a bounded amount.
//!
//! The same module keeps the two summaries of every session of the lake that windowed contexts
//! need ([`summaries`]): `ai_roles` and `ai_session_names`. Both keep, per role or per name, the
//! smallest or largest of what its AI sessions say, so the sessions of the credentials committed
//! since are merged in; when one of those credentials could change a session already summarised
//! (its key was issued before, or it is the missing caller of one), both are computed again.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef, TimestampMicrosecondType};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionContext, col, lit};
use datafusion::scalar::ScalarValue;
use serde::{Deserialize, Serialize};

use crate::correlate::facts::{CREDENTIALS, SIGNIN_GRANTS};
use crate::settings::Settings;
use crate::sink::Lake;

use super::sessions::{MAX_CHAIN_FETCHES, matching};
use super::{QueryError, TimeRange};

/// The table whose whole days are kept.
pub const TABLE: &str = "ai_api_days";
/// Its definition over `events`.
pub const SQL: &str = include_str!("ai_api_days.sql");
/// Where the kept days are, under the lake's root.
pub const DIR: &str = "_kept/ai_api_days";
/// The Parquet key-value metadata holding a day's record ([`Record`]).
const RECORD_KEY: &str = "agenttrail.kept";
/// Bump when classification changes in Rust code (the SQL definitions are hashed already).
const FORMAT: u32 = 2;

/// What [`register`] did: days reused as kept, computed, and of those written back.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct KeptStats {
    /// Kept days still valid, read back.
    pub reused: usize,
    /// Days classified again (absent, or changed since kept).
    pub computed: usize,
    /// Computed days written to the lake.
    pub written: usize,
}

/// What a kept day's rows depend on, besides its events: the keys its classification looks up.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct Deps {
    /// Access keys of its calls and of their chains' ancestors (closed over callers).
    keys: Vec<String>,
    /// Role and session name of its calls without an access key.
    names: Vec<(String, String)>,
    /// Sign-in sessions its calls name.
    signin: Vec<String>,
}

/// Version of each fact table (None: not created yet).
type Versions = BTreeMap<String, Option<u64>>;

/// The record kept with a day's rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    /// Unique per computation of the day (what `checked.json` refers to).
    id: String,
    definition: String,
    events: String,
    /// The events table's version those files were read at (None in records of older builds).
    #[serde(default)]
    events_version: Option<u64>,
    /// The fact tables' versions the day was classified at (or older).
    facts: Versions,
    deps: StoredDeps,
}

/// A kept day's [`Deps`] as stored, parsed only when a fact added since has to be checked
/// against them: on a large lake they are megabytes of keys per day (5 MB at 830k events a
/// day), and a run to which nothing was added reads none of them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
struct StoredDeps(Box<serde_json::value::RawValue>);

impl StoredDeps {
    fn new(deps: &Deps) -> Result<StoredDeps, QueryError> {
        Ok(StoredDeps(
            serde_json::value::to_raw_value(deps).map_err(external)?,
        ))
    }

    fn parse(&self) -> Result<Deps, QueryError> {
        serde_json::from_str(self.0.get()).map_err(external)
    }
}

/// What a run found still valid: per day, the record's id and the fact tables' versions up to
/// which no added fact touched it. Written whole; two workers each write what they verified.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Checked {
    days: BTreeMap<NaiveDate, (String, Versions)>,
}

/// Where [`Checked`] is kept.
const CHECKED: &str = "_kept/checked-ai_api_days.json";

/// The fact tables a day's classification reads, with the columns its keys are matched by.
const FACTS: [(&str, &[&str]); 2] = [
    (CREDENTIALS, &["access_key_id", "role_arn", "session_name"]),
    (SIGNIN_GRANTS, &["signin_session_arn"]),
];

fn sha256(parts: &[&str]) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

/// The hash of everything besides the data that decides what is kept (`what`: the definitions
/// of the kept tables): this version, `FORMAT`, the classification settings.
fn definition(settings: &Settings, what: &[&str]) -> String {
    let rules = serde_json::to_string(&settings.classify).unwrap_or_default();
    let format = FORMAT.to_string();
    let mut parts = vec![env!("CARGO_PKG_VERSION"), format.as_str(), rules.as_str()];
    parts.extend_from_slice(what);
    sha256(&parts)
}

/// The dates `[first, end)`.
fn dates_in(first: NaiveDate, end: NaiveDate) -> Vec<NaiveDate> {
    first.iter_days().take_while(|d| *d < end).collect()
}

/// The first instant of `day` (UTC).
pub fn start_of(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
}

fn external(e: impl std::error::Error + Send + Sync + 'static) -> QueryError {
    QueryError::DataFusion(DataFusionError::External(Box::new(e)))
}

/// Per date partition of the events table, the hash of its files' paths and its rows (from the
/// files' statistics; 0 when a file has none).
async fn events_by_day(
    lake: &Lake,
) -> Result<
    (
        Option<deltalake::DeltaTable>,
        HashMap<NaiveDate, (String, u64)>,
    ),
    QueryError,
> {
    let Some(delta) = lake.table("events").await? else {
        return Ok((None, HashMap::new()));
    };
    let days = partitions(&delta)?;
    Ok((Some(delta), days))
}

/// [`events_by_day`] of the events table as loaded.
fn partitions(
    delta: &deltalake::DeltaTable,
) -> Result<HashMap<NaiveDate, (String, u64)>, QueryError> {
    let adds = delta
        .snapshot()
        .map_err(external)?
        .add_actions_table(true)
        .map_err(external)?;
    let (Some(paths), Some(dates)) = (
        adds.column_by_name("path"),
        adds.column_by_name("partition.event_date"),
    ) else {
        return Ok(HashMap::new());
    };
    let dates = arrow::compute::cast(dates, &DataType::Utf8)?;
    let (paths, dates) = (paths.as_string::<i32>(), dates.as_string::<i32>());
    let rows = adds
        .column_by_name("num_records")
        .and_then(|c| arrow::compute::cast(c, &DataType::UInt64).ok());
    let rows = rows
        .as_ref()
        .and_then(|c| c.as_primitive_opt::<arrow::datatypes::UInt64Type>());
    let mut files: HashMap<NaiveDate, (Vec<&str>, u64)> = HashMap::new();
    for r in 0..paths.len() {
        if let Ok(d) = dates.value(r).parse::<NaiveDate>() {
            let e = files.entry(d).or_default();
            e.0.push(paths.value(r));
            e.1 += rows.filter(|c| !c.is_null(r)).map_or(0, |c| c.value(r));
        }
    }
    Ok(files
        .into_iter()
        .map(|(d, (mut p, n))| {
            p.sort_unstable();
            (d, (sha256(&p), n))
        })
        .collect())
}

/// The most events classified together when stale days are computed: consecutive days are
/// computed in one context up to this many events (a first run over a long history of small
/// days reads the facts once), a larger day alone (memory stays that of one day).
const COMPUTE_EVENTS: u64 = 1_000_000;

fn state_name(day: NaiveDate) -> String {
    format!("{DIR}/{day}.parquet")
}

/// A kept file as stored (its record and rows), or None when absent or unreadable (what it
/// holds is then computed again).
async fn read_kept<R: serde::de::DeserializeOwned + Send + 'static>(
    lake: &Lake,
    name: &str,
) -> Option<(R, Vec<RecordBatch>)> {
    read_kept_groups(lake, name, None).await
}

/// [`read_kept`], decoding only the row groups whose `column` can hold a time at or after
/// `reach` (by the row group's statistics; one without them is read) when given.
async fn read_kept_groups<R: serde::de::DeserializeOwned + Send + 'static>(
    lake: &Lake,
    name: &str,
    reach: Option<(&'static str, DateTime<Utc>)>,
) -> Option<(R, Vec<RecordBatch>)> {
    let bytes = match lake.read_state(name).await {
        Ok(Some(b)) => bytes::Bytes::from(b),
        Ok(None) => return None,
        Err(e) => {
            tracing::debug!(file = name, error = %e, "A kept file could not be read; it is computed.");
            return None;
        }
    };
    // Decoded on the blocking pool: the kept days of a look-back are read concurrently.
    let parsed = tokio::task::spawn_blocking(move || decode_kept::<R>(bytes, reach))
        .await
        .unwrap_or_else(|e| Err(e.to_string().into()));
    match parsed {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!(file = name, error = %e, "A kept file is unreadable; it is computed again.");
            None
        }
    }
}

/// A kept file's record and rows (see [`read_kept_groups`]).
fn decode_kept<R: serde::de::DeserializeOwned>(
    bytes: bytes::Bytes,
    reach: Option<(&str, DateTime<Utc>)>,
) -> Result<(R, Vec<RecordBatch>), Box<dyn std::error::Error + Send + Sync>> {
    {
        let builder =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)?;
        let text = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|k| k.key == RECORD_KEY))
            .and_then(|k| k.value.clone())
            .ok_or("no record")?;
        let record: R = serde_json::from_str(&text)?;
        let builder = match reach {
            Some((column, at)) => {
                let groups = groups_reaching(builder.metadata(), column, at);
                builder.with_row_groups(groups)
            }
            None => builder,
        };
        let batches = builder.build()?.collect::<Result<Vec<_>, _>>()?;
        Ok((record, batches))
    }
}

/// The row groups of a kept file whose timestamp `column` has a value at or after `at`, by
/// their statistics (a row group without them, or without the column, is kept).
fn groups_reaching(
    metadata: &parquet::file::metadata::ParquetMetaData,
    column: &str,
    at: DateTime<Utc>,
) -> Vec<usize> {
    let at = at.timestamp_micros();
    let index = metadata
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == column);
    (0..metadata.num_row_groups())
        .filter(|&g| {
            let max = index.and_then(|i| match metadata.row_group(g).column(i).statistics() {
                Some(parquet::file::statistics::Statistics::Int64(v)) => v.max_opt().copied(),
                _ => None,
            });
            max.is_none_or(|max| max >= at)
        })
        .collect()
}

/// Rows per row group of a kept file: small enough that a read of the names whose span reaches
/// a window skips the rest (see [`summaries`]).
const KEPT_ROW_GROUP: usize = 16 * 1024;

/// A kept file: `batches` in Parquet with `record` in its key-value metadata.
fn encode_kept<R: Serialize>(
    schema: &SchemaRef,
    record: &R,
    batches: &[RecordBatch],
) -> Result<Vec<u8>, QueryError> {
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .set_max_row_group_row_count(Some(KEPT_ROW_GROUP))
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))
        .map_err(external)?;
    w.append_key_value_metadata(parquet::file::metadata::KeyValue::new(
        RECORD_KEY.to_string(),
        serde_json::to_string(record).map_err(external)?,
    ));
    for b in batches {
        w.write(b).map_err(external)?;
    }
    w.into_inner().map_err(external)
}

/// Column `name` of `b` as text, whatever string or dictionary type the plan gave it (a value
/// silently skipped here would be a dependency not recorded).
fn text(b: &RecordBatch, name: &str) -> Result<arrow::array::StringArray, QueryError> {
    let c = b.column_by_name(name).ok_or_else(|| {
        QueryError::DataFusion(DataFusionError::Internal(format!("no column {name}")))
    })?;
    Ok(arrow::compute::cast(c, &DataType::Utf8)?
        .as_string::<i32>()
        .clone())
}

/// Row `r` of a text column.
fn at(c: &arrow::array::StringArray, r: usize) -> Option<String> {
    (!c.is_null(r)).then(|| c.value(r).to_string())
}

/// The chains of the credentials a computation of days reads: callers by access key, and access
/// keys by role and session name.
#[derive(Default)]
struct Chains {
    /// Access key -> the caller's access key of each of its credentials.
    by_key: HashMap<String, Vec<Option<String>>>,
    /// Role and session name -> the access keys of its credentials.
    by_name: HashMap<(String, String), Vec<String>>,
}

impl Chains {
    async fn add_keys(&mut self, ctx: &SessionContext, keys: &[String]) -> Result<(), QueryError> {
        if keys.is_empty() {
            return Ok(());
        }
        for k in keys {
            self.by_key.entry(k.clone()).or_default();
        }
        let rows: Vec<Vec<&str>> = keys.iter().map(|k| vec![k.as_str()]).collect();
        let table = ctx
            .table(CREDENTIALS)
            .await?
            .select_columns(&["access_key_id", "caller_access_key_id"])?;
        for b in matching(ctx, table, &["access_key_id"], &rows)?
            .collect()
            .await?
        {
            let (key, caller) = (
                text(&b, "access_key_id")?,
                text(&b, "caller_access_key_id")?,
            );
            for r in 0..b.num_rows() {
                if let Some(k) = at(&key, r) {
                    self.by_key.entry(k).or_default().push(at(&caller, r));
                }
            }
        }
        Ok(())
    }

    async fn add_names(
        &mut self,
        ctx: &SessionContext,
        names: &[(String, String)],
    ) -> Result<(), QueryError> {
        if names.is_empty() {
            return Ok(());
        }
        let rows: Vec<Vec<&str>> = names
            .iter()
            .map(|(r, n)| vec![r.as_str(), n.as_str()])
            .collect();
        let table = ctx.table(CREDENTIALS).await?.select_columns(&[
            "access_key_id",
            "role_arn",
            "session_name",
        ])?;
        for b in matching(ctx, table, &["role_arn", "session_name"], &rows)?
            .collect()
            .await?
        {
            let (role, name, key) = (
                text(&b, "role_arn")?,
                text(&b, "session_name")?,
                text(&b, "access_key_id")?,
            );
            for r in 0..b.num_rows() {
                if let (Some(role), Some(name), Some(k)) = (at(&role, r), at(&name, r), at(&key, r))
                {
                    self.by_name.entry((role, name)).or_default().push(k);
                }
            }
        }
        Ok(())
    }
}

/// Close each day's keys over the chains' callers and the keys of its names' sessions, reading
/// the credentials they need.
async fn close(
    ctx: &SessionContext,
    days: &mut BTreeMap<NaiveDate, Deps>,
) -> Result<(), QueryError> {
    let mut chains = Chains::default();
    let names: BTreeSet<(String, String)> = days.values().flat_map(|d| d.names.clone()).collect();
    chains
        .add_names(ctx, &names.into_iter().collect::<Vec<_>>())
        .await?;
    let mut wanted: HashSet<String> = days.values().flat_map(|d| d.keys.clone()).collect();
    wanted.extend(chains.by_name.values().flatten().cloned());
    for _ in 0..MAX_CHAIN_FETCHES {
        let next: Vec<String> = wanted
            .iter()
            .filter(|k| !chains.by_key.contains_key(*k))
            .cloned()
            .collect();
        if next.is_empty() {
            break;
        }
        chains.add_keys(ctx, &next).await?;
        for k in &next {
            wanted.extend(chains.by_key[k].iter().flatten().cloned());
        }
    }
    for deps in days.values_mut() {
        let mut keys: BTreeSet<String> = deps.keys.iter().cloned().collect();
        for n in &deps.names {
            keys.extend(chains.by_name.get(n).into_iter().flatten().cloned());
        }
        let mut todo: Vec<String> = keys.iter().cloned().collect();
        while let Some(k) = todo.pop() {
            for caller in chains.by_key.get(&k).into_iter().flatten().flatten() {
                if keys.insert(caller.clone()) {
                    todo.push(caller.clone());
                }
            }
        }
        deps.keys = keys.into_iter().collect();
    }
    Ok(())
}

/// The version of each fact table now, with the table.
async fn fact_tables(
    lake: &Lake,
) -> Result<(Versions, HashMap<String, deltalake::DeltaTable>), QueryError> {
    let mut versions = Versions::new();
    let mut tables = HashMap::new();
    let names: Vec<&str> = FACTS.iter().map(|(name, _)| *name).collect();
    for (name, table) in names.iter().zip(lake.tables(&names).await?) {
        versions.insert(name.to_string(), table.as_ref().and_then(|t| t.version()));
        if let Some(t) = table {
            tables.insert(name.to_string(), t);
        }
    }
    Ok((versions, tables))
}

/// The paths of a table's files at its loaded version.
fn paths(table: &deltalake::DeltaTable) -> Result<HashSet<String>, QueryError> {
    let adds = table
        .snapshot()
        .map_err(external)?
        .add_actions_table(true)
        .map_err(external)?;
    let Some(paths) = adds.column_by_name("path") else {
        return Ok(HashSet::new());
    };
    let paths = paths.as_string::<i32>();
    Ok((0..paths.len())
        .map(|r| paths.value(r).to_string())
        .collect())
}

/// What was added to a fact table after a version: its rows in the matched columns, or None
/// when that cannot be known or rows may have gone: a commit since removed rows (a data change),
/// a log entry or a file it added is gone (`lake vacuum`), or the table is older than the record
/// (made again). The commits since are read from the log: a compaction (`lake optimize`, whose
/// adds and removes say `dataChange: false`) moves rows without changing them, so it changes
/// nothing here; the files that data changes added are read even when a compaction has folded
/// them into another since (it stays on storage until vacuumed).
async fn added_since(
    table: &deltalake::DeltaTable,
    version: Option<u64>,
    columns: &[&str],
) -> Result<Option<Vec<RecordBatch>>, QueryError> {
    let Some(now) = table.version() else {
        return Ok(version.is_none().then(Vec::new));
    };
    let (first, then) = match version {
        Some(v) if v == now => return Ok(Some(Vec::new())),
        // A table older than the record (made again) is another table.
        Some(v) if now < v => return Ok(None),
        Some(v) => {
            let mut old = table.clone();
            match old.load_version(v).await {
                Ok(()) => (v + 1, paths(&old)?),
                // Its log entries expired (`lake vacuum`): what was added since is unknown.
                Err(e) => {
                    tracing::debug!(version = v, error = %e, "A fact table's version is gone.");
                    return Ok(None);
                }
            }
        }
        None => (0, HashSet::new()),
    };
    let Some((added, compacted)) = data_added(table, first, now).await? else {
        return Ok(None);
    };
    // Every file of that version is here, or was compacted away since; else this is another
    // table than the one the record was made against (made again, with as many versions).
    let now_paths = paths(table)?;
    if then
        .iter()
        .any(|p| !now_paths.contains(p) && !compacted.contains(p))
    {
        return Ok(None);
    }
    let store = table.log_store().object_store(None);
    let mut rows = Vec::new();
    for p in added {
        let path = deltalake::Path::from_url_path(&p).map_err(external)?;
        let bytes = match store
            .get_opts(
                &path,
                deltalake::logstore::object_store::GetOptions::default(),
            )
            .await
        {
            Ok(got) => got.bytes().await.map_err(external)?,
            Err(deltalake::logstore::object_store::Error::NotFound { .. }) => {
                tracing::debug!(path = %p, "A fact file added since is gone.");
                return Ok(None);
            }
            Err(e) => return Err(external(e)),
        };
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .map_err(external)?;
        let mask = parquet::arrow::ProjectionMask::columns(
            builder.parquet_schema(),
            columns.iter().copied(),
        );
        for b in builder.with_projection(mask).build().map_err(external)? {
            rows.push(b?);
        }
    }
    Ok(Some(rows))
}

/// A file that a commit of a Delta table adds or removes, as its log entry says.
struct FileAction {
    path: String,
    add: bool,
    /// False for a compaction's moves (`lake optimize`): the same rows in other files.
    data_change: bool,
}

/// The adds and removes of commit `version` of `table`, in order; None when its log entry is gone
/// (log entries expire).
async fn file_actions(
    table: &deltalake::DeltaTable,
    version: u64,
) -> Result<Option<Vec<FileAction>>, QueryError> {
    #[derive(Deserialize)]
    struct Line {
        add: Option<File>,
        remove: Option<File>,
    }
    #[derive(Deserialize)]
    struct File {
        path: String,
        #[serde(rename = "dataChange", default = "changes_data")]
        data_change: bool,
    }
    fn changes_data() -> bool {
        true
    }
    let Some(entry) = table
        .log_store()
        .read_commit_entry(version)
        .await
        .map_err(external)?
    else {
        tracing::debug!(version, "A Delta log entry is gone.");
        return Ok(None);
    };
    let mut out = Vec::new();
    for line in entry.split(|b| *b == b'\n') {
        let Ok(line) = serde_json::from_slice::<Line>(line) else {
            continue;
        };
        for (file, add) in [(line.add, true), (line.remove, false)] {
            if let Some(f) = file {
                out.push(FileAction {
                    path: f.path,
                    add,
                    data_change: f.data_change,
                });
            }
        }
    }
    Ok(Some(out))
}

/// The files that the commits `first..=last` of `table` added as data changes, in order, and
/// those they removed without changing data (compacted away); None when one of them removed
/// data (`remove` with `dataChange: true`) or its log entry is gone.
async fn data_added(
    table: &deltalake::DeltaTable,
    first: u64,
    last: u64,
) -> Result<Option<(Vec<String>, HashSet<String>)>, QueryError> {
    let (mut added, mut compacted) = (Vec::new(), HashSet::new());
    for v in first..=last {
        let Some(actions) = file_actions(table, v).await? else {
            return Ok(None);
        };
        for a in actions {
            match (a.add, a.data_change) {
                (true, true) => added.push(a.path),
                (true, false) => {}
                (false, true) => return Ok(None),
                (false, false) => {
                    compacted.insert(a.path);
                }
            }
        }
    }
    Ok(Some((added, compacted)))
}

/// Whether a row of `added` (rows of fact table `table`) is one the day's classification reads.
fn touches(deps: &Deps, table: &str, added: &[RecordBatch]) -> Result<bool, QueryError> {
    for b in added {
        if table == CREDENTIALS {
            let (key, role, name) = (
                text(b, "access_key_id")?,
                text(b, "role_arn")?,
                text(b, "session_name")?,
            );
            for r in 0..b.num_rows() {
                if !key.is_null(r)
                    && deps
                        .keys
                        .binary_search_by(|k| k.as_str().cmp(key.value(r)))
                        .is_ok()
                {
                    return Ok(true);
                }
                if !role.is_null(r)
                    && !name.is_null(r)
                    && deps
                        .names
                        .binary_search_by(|(a, b)| {
                            (a.as_str(), b.as_str()).cmp(&(role.value(r), name.value(r)))
                        })
                        .is_ok()
                {
                    return Ok(true);
                }
            }
        } else {
            let arn = text(b, "signin_session_arn")?;
            for r in 0..b.num_rows() {
                if !arn.is_null(r)
                    && deps
                        .signin
                        .binary_search_by(|a| a.as_str().cmp(arn.value(r)))
                        .is_ok()
                {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

/// Per day of the context's events, what the classification of its calls looks up.
async fn deps_by_day(ctx: &SessionContext) -> Result<BTreeMap<NaiveDate, Deps>, QueryError> {
    let mut out: BTreeMap<NaiveDate, Deps> = BTreeMap::new();
    let queries = [
        "SELECT DISTINCT CAST(event_date AS VARCHAR) AS d, access_key_id AS a, \
         CAST(NULL AS VARCHAR) AS b FROM events_all WHERE access_key_id IS NOT NULL",
        "SELECT DISTINCT CAST(event_date AS VARCHAR) AS d, session_issuer_arn AS a, \
         regexp_replace(identity_arn, '^.*/', '') AS b FROM events_all \
         WHERE access_key_id IS NULL AND session_issuer_arn IS NOT NULL AND identity_arn IS NOT NULL",
        "SELECT DISTINCT CAST(event_date AS VARCHAR) AS d, signin_session_arn AS a, \
         CAST(NULL AS VARCHAR) AS b FROM events_all WHERE signin_session_arn IS NOT NULL",
    ];
    for (i, sql) in queries.iter().enumerate() {
        for batch in ctx.sql(sql).await?.collect().await? {
            let (d, a, b) = (text(&batch, "d")?, text(&batch, "a")?, text(&batch, "b")?);
            for r in 0..batch.num_rows() {
                let (Some(d), Some(a)) = (at(&d, r), at(&a, r)) else {
                    continue;
                };
                let d = d.parse::<NaiveDate>().map_err(|e| {
                    QueryError::DataFusion(DataFusionError::Internal(format!(
                        "event_date {d:?}: {e}"
                    )))
                })?;
                let deps = out.entry(d).or_default();
                match (i, at(&b, r)) {
                    (0, _) => deps.keys.push(a),
                    (1, Some(name)) => deps.names.push((a, name)),
                    (2, _) => deps.signin.push(a),
                    _ => {}
                }
            }
        }
    }
    for deps in out.values_mut() {
        deps.names.sort_unstable();
        deps.names.dedup();
        deps.signin.sort_unstable();
        deps.signin.dedup();
    }
    Ok(out)
}

/// The rows of each day in `[first, end)`, computed in a context over those days, with their
/// records.
async fn compute(
    lake: &Lake,
    settings: &Settings,
    first: NaiveDate,
    end: NaiveDate,
    (events, events_version): (&HashMap<NaiveDate, (String, u64)>, Option<u64>),
    definition: &str,
    facts: &Versions,
) -> Result<(SchemaRef, BTreeMap<NaiveDate, (Record, Vec<RecordBatch>)>), QueryError> {
    let range = TimeRange {
        since: Some(start_of(first)),
        until: Some(start_of(end)),
        every_role: false,
    };
    // With the whole lake's names and roles as kept (`summaries`), as the window's contexts.
    let ctx = super::build_kept_context_in(lake, settings, range).await?;
    let df = ctx.table(TABLE).await?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let rows = df.collect().await?;
    let mut deps = deps_by_day(&ctx).await?;
    for day in dates_in(first, end) {
        deps.entry(day).or_default();
    }
    close(&ctx, &mut deps).await?;
    let nanos = Utc::now()
        .timestamp_nanos_opt()
        .unwrap_or_default()
        .to_string();
    let pid = std::process::id().to_string();
    let mut out = BTreeMap::new();
    for (day, deps) in deps {
        if day < first || day >= end {
            continue;
        }
        let from = start_of(day).timestamp_micros();
        let to = start_of(day.succ_opt().unwrap_or(day)).timestamp_micros();
        let mut batches = Vec::new();
        for b in &rows {
            let Some(days) = b
                .column_by_name("day")
                .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
            else {
                return Err(QueryError::DataFusion(DataFusionError::Internal(format!(
                    "{TABLE}.day is not a timestamp in microseconds"
                ))));
            };
            let mask: arrow::array::BooleanArray = days
                .iter()
                .map(|t| Some(t.is_some_and(|t| t >= from && t < to)))
                .collect();
            let kept = arrow::compute::filter_record_batch(b, &mask)?;
            if kept.num_rows() > 0 {
                batches.push(kept);
            }
        }
        let events = events
            .get(&day)
            .map_or_else(|| sha256(&[]), |e| e.0.clone());
        let record = Record {
            id: sha256(&[&day.to_string(), &events, &nanos, &pid]),
            definition: definition.to_string(),
            events,
            events_version,
            facts: facts.clone(),
            deps: StoredDeps::new(&deps)?,
        };
        out.insert(day, (record, batches));
    }
    Ok((schema, out))
}

/// The most commits of the events table read to tell a compaction from a change (beyond, the day
/// is computed again).
const MAX_MOVE_COMMITS: u64 = 5_000;

/// What the events table's log says happened to a date partition since a version, read once per
/// run for every day that asks (`lake optimize` rewrites a day's files without changing a row:
/// its adds and removes say `dataChange: false`).
#[derive(Default)]
struct Moves {
    /// Per version: the paths its data changes (adds and removes with `dataChange: true`) touched.
    changes: HashMap<u64, Vec<String>>,
    /// Per version: the partitions' file hashes at that version.
    then: HashMap<u64, HashMap<NaiveDate, (String, u64)>>,
}

impl Moves {
    /// Whether the files of `day` at version `v` were those recorded (`hash`), and every commit
    /// since that touched the day only moved rows (a compaction).
    async fn only_moved(
        &mut self,
        table: &deltalake::DeltaTable,
        v: u64,
        day: NaiveDate,
        hash: &str,
    ) -> Result<bool, QueryError> {
        let Some(now) = table.version() else {
            return Ok(false);
        };
        if now < v || now - v > MAX_MOVE_COMMITS {
            return Ok(false);
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = self.then.entry(v) {
            let mut old = table.clone();
            slot.insert(match old.load_version(v).await {
                Ok(()) => partitions(&old)?,
                // Its log entries expired: what happened since is unknown.
                Err(_) => HashMap::new(),
            });
        }
        if self.then[&v].get(&day).is_none_or(|(h, _)| h != hash) {
            return Ok(false);
        }
        let folder = format!("event_date={day}/");
        for version in v + 1..=now {
            if let std::collections::hash_map::Entry::Vacant(slot) = self.changes.entry(version) {
                let Some(actions) = file_actions(table, version).await? else {
                    return Ok(false);
                };
                slot.insert(
                    actions
                        .into_iter()
                        .filter(|a| a.data_change)
                        .map(|a| a.path)
                        .collect(),
                );
            }
            if self.changes[&version]
                .iter()
                .any(|p| p.starts_with(&folder) || !p.contains("event_date="))
            {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// The rows of `ai_api_days` of the whole days `[first, end)`: the kept days still valid, the
/// others computed and kept.
pub async fn days(
    lake: &Lake,
    settings: &Settings,
    first: NaiveDate,
    end: NaiveDate,
) -> Result<(Vec<RecordBatch>, KeptStats), QueryError> {
    let started = std::time::Instant::now();
    let definition = definition(settings, &[include_str!("events.sql"), SQL]);
    // Read before anything else: facts or events committed from here on count as new.
    let (versions, tables) = fact_tables(lake).await?;
    let (events_table, events) = events_by_day(lake).await?;
    let events_version = events_table.as_ref().and_then(|t| t.version());
    // A day without event files has no rows, whatever the facts: nothing to keep or read.
    let dates: Vec<NaiveDate> = dates_in(first, end)
        .into_iter()
        .filter(|d| events.contains_key(d))
        .collect();
    let names: Vec<String> = dates.iter().map(|d| state_name(*d)).collect();
    let stored =
        futures::future::join_all(names.iter().map(|n| read_kept::<Record>(lake, n))).await;
    let checked: Checked = match lake.read_state(CHECKED).await {
        Ok(Some(text)) => serde_json::from_slice(&text).unwrap_or_default(),
        _ => Checked::default(),
    };
    let mut candidates: BTreeMap<NaiveDate, (Record, Vec<RecordBatch>)> = BTreeMap::new();
    // Days whose files a compaction rewrote since (same rows), or whose record an older build
    // wrote without the events version: kept, their record renewed.
    let mut renewed: Vec<NaiveDate> = Vec::new();
    let mut moves = Moves::default();
    for (d, s) in dates.iter().zip(stored) {
        let Some((mut record, batches)) = s else {
            continue;
        };
        let Some((now, _)) = events.get(d) else {
            continue;
        };
        if record.definition != definition {
            continue;
        }
        if *now != record.events {
            let (Some(table), Some(v)) = (&events_table, record.events_version) else {
                continue;
            };
            if !moves.only_moved(table, v, *d, &record.events).await? {
                continue;
            }
            record.events = now.clone();
            record.events_version = events_version;
            renewed.push(*d);
        } else if record.events_version.is_none() && events_version.is_some() {
            // Kept by an older build: its files are the table's now, at this version.
            record.events_version = events_version;
            renewed.push(*d);
        }
        candidates.insert(*d, (record, batches));
    }
    tracing::debug!(
        candidates = candidates.len(),
        ms = started.elapsed().as_millis() as u64,
        "Kept days read back."
    );
    // Each day is checked against the facts added since it was last known valid.
    let since = |d: &NaiveDate, record: &Record| -> Versions {
        match checked.days.get(d) {
            Some((id, at)) if *id == record.id => at.clone(),
            _ => record.facts.clone(),
        }
    };
    let mut added: HashMap<(String, Option<u64>), Option<Vec<RecordBatch>>> = HashMap::new();
    let mut valid: Vec<NaiveDate> = Vec::new();
    for (d, (record, _)) in &candidates {
        let at = since(d, record);
        let mut ok = true;
        let mut deps: Option<Deps> = None;
        for (table, columns) in FACTS {
            let version = at.get(table).copied().flatten();
            let Some(t) = tables.get(table) else {
                // No such table now: nothing added; one that existed and is gone is a change.
                ok &= version.is_none();
                continue;
            };
            let key = (table.to_string(), version);
            if !added.contains_key(&key) {
                added.insert(key.clone(), added_since(t, version, columns).await?);
            }
            ok &= match &added[&key] {
                Some(rows) if rows.iter().all(|b| b.num_rows() == 0) => true,
                Some(rows) => {
                    let deps = match &mut deps {
                        Some(d) => d,
                        None => deps.insert(record.deps.parse()?),
                    };
                    !touches(deps, table, rows)?
                }
                None => false,
            };
            if !ok {
                break;
            }
        }
        if ok {
            valid.push(*d);
        }
    }
    candidates.retain(|d, _| valid.contains(d));
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "Facts added since the kept days were checked."
    );
    // Note what was verified, so that the next run reads only the facts added after this.
    let newer = candidates
        .iter()
        .any(|(d, (record, _))| since(d, record) != versions);
    if newer {
        let note = Checked {
            days: candidates
                .iter()
                .map(|(d, (record, _))| (*d, (record.id.clone(), versions.clone())))
                .collect(),
        };
        if let Err(e) = lake
            .write_state(CHECKED, serde_json::to_vec(&note).unwrap_or_default())
            .await
        {
            tracing::warn!(error = %e, "Could not note the kept days checked; the next run checks them again.");
        }
    }
    // A renewed day is written again with its new record, so that the next run finds its files
    // as recorded (a day without rows has no schema to write: its next run checks the log again).
    for d in &renewed {
        if let Some((record, batches)) = candidates.get(d)
            && let Some(first) = batches.first()
            && let Err(e) = match encode_kept(&first.schema(), record, batches) {
                Ok(body) => lake
                    .write_state(&state_name(*d), body)
                    .await
                    .map_err(QueryError::from),
                Err(e) => Err(e),
            }
        {
            // Once: on a lake that cannot be written, every renewal fails alike.
            tracing::warn!(day = %d, error = %e, "Could not renew a kept day's record; the next run checks it again.");
            break;
        }
    }
    let stale: Vec<NaiveDate> = dates
        .iter()
        .filter(|d| !candidates.contains_key(d))
        .copied()
        .collect();
    let mut stats = KeptStats {
        reused: candidates.len(),
        ..KeptStats::default()
    };
    tracing::debug!(
        reused = stats.reused,
        stale = stale.len(),
        ms = started.elapsed().as_millis() as u64,
        "Kept days checked."
    );
    let mut out: Vec<RecordBatch> = candidates.into_values().flat_map(|c| c.1).collect();
    // Consecutive stale days together up to `COMPUTE_EVENTS` events (see there).
    let mut chunks: Vec<(NaiveDate, NaiveDate, u64)> = Vec::new();
    for &day in &stale {
        let n = events.get(&day).map_or(0, |e| e.1);
        let next = day.succ_opt().unwrap_or(day);
        match chunks.last_mut() {
            Some(c) if c.1 == day && c.2 + n <= COMPUTE_EVENTS => {
                c.1 = next;
                c.2 += n;
            }
            _ => chunks.push((day, next, n)),
        }
    }
    let mut warned = false;
    for (first, end, _) in chunks {
        let (schema, computed) = compute(
            lake,
            settings,
            first,
            end,
            (&events, events_version),
            &definition,
            &versions,
        )
        .await?;
        for (day, (record, batches)) in computed {
            stats.computed += 1;
            let written = match encode_kept(&schema, &record, &batches) {
                Ok(body) => lake
                    .write_state(&state_name(day), body)
                    .await
                    .map_err(QueryError::from),
                Err(e) => Err(e),
            };
            match written {
                Ok(()) => stats.written += 1,
                Err(e) if !warned => {
                    warned = true;
                    tracing::warn!(%day, error = %e, "Could not keep a day of {TABLE} in the lake; it will be computed again next run.");
                }
                Err(_) => {}
            }
            out.extend(batches);
        }
    }
    tracing::debug!(
        reused = stats.reused,
        computed = stats.computed,
        written = stats.written,
        ms = started.elapsed().as_millis() as u64,
        "Kept days read."
    );
    Ok((out, stats))
}

/// Register in `ctx`, a context whose events start at the start of day `day`, `ai_api_days` as the
/// kept whole days from `from`'s day up to `day` (their rows whose last call is at or after
/// `from`: those the days from `from` on hold) followed by its own.
pub async fn register(
    ctx: &SessionContext,
    lake: &Lake,
    settings: &Settings,
    from: DateTime<Utc>,
    day: NaiveDate,
) -> Result<KeptStats, QueryError> {
    let (kept, stats) = days(lake, settings, from.date_naive(), day).await?;
    let own = ctx.sql(SQL).await?;
    let schema: SchemaRef = Arc::new(own.schema().as_arrow().clone());
    let kept = kept
        .into_iter()
        .map(|b| RecordBatch::try_new(schema.clone(), b.columns().to_vec()))
        .collect::<Result<Vec<_>, _>>()?;
    let from = lit(ScalarValue::TimestampMicrosecond(
        Some(from.timestamp_micros()),
        Some(Arc::from("UTC")),
    ));
    let kept = ctx
        .read_table(Arc::new(MemTable::try_new(schema, vec![kept])?))?
        .filter(col("last_call").gt_eq(from))?;
    let all = kept.union(own)?;
    ctx.deregister_table(TABLE)?;
    ctx.register_table(TABLE, all.into_view())?;
    Ok(stats)
}

/// For each statement, whether it reads no table but `ai_api_days` (its CTEs aside): such a
/// statement can run in a context limited to its window's days with the kept days registered
/// ([`register`]). Planned with `ai_api_days` registered as an empty table for the time (a view
/// is inlined when planned; a CTE of that name hides the table and reads what it reads).
pub async fn reads_only_kept(
    ctx: &SessionContext,
    statements: &[&str],
) -> Result<Vec<bool>, QueryError> {
    use datafusion::common::tree_node::TreeNodeRecursion;
    use datafusion::logical_expr::LogicalPlan;
    let Some(view) = ctx.deregister_table(TABLE)? else {
        return Ok(vec![false; statements.len()]);
    };
    let empty = MemTable::try_new(view.schema(), vec![vec![]])?;
    ctx.register_table(TABLE, Arc::new(empty))?;
    let mut out = Vec::with_capacity(statements.len());
    for sql in statements {
        let Ok(df) = ctx.sql_with_options(sql, super::sql_options(false)).await else {
            out.push(false);
            continue;
        };
        let (mut only, mut any) = (true, false);
        let _ = df.logical_plan().apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node {
                if scan.table_name.table() == TABLE {
                    any = true;
                } else {
                    only = false;
                }
            }
            Ok(if only {
                TreeNodeRecursion::Continue
            } else {
                TreeNodeRecursion::Stop
            })
        });
        out.push(only && any);
    }
    ctx.deregister_table(TABLE)?;
    ctx.register_table(TABLE, view)?;
    Ok(out)
}

/// Where the kept `ai_roles` is.
pub const ROLES: &str = "_kept/ai_roles.parquet";
/// Where the kept `ai_session_names` is.
pub const NAMES: &str = "_kept/ai_session_names.parquet";

/// The record kept with each summary of the whole lake.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct SummaryRecord {
    definition: String,
    /// The credential facts it holds: those of this version.
    facts: Versions,
}

/// How [`summaries`] got the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolesKept {
    /// As kept: no credential fact added since.
    Reused,
    /// As kept, with the sessions of this many credential facts added since.
    Updated(usize),
    /// From every credential fact (nothing kept, other definitions, or a fact added since that
    /// changes a kept session: a key issued again, a chain's missing parent).
    Computed,
}

/// The summaries of every session of the lake that windowed contexts need: `ai_roles` (every
/// role an AI session assumed, with its first marking) and `ai_session_names` (per role and
/// session name of AI sessions, the span from the first issue to the last expiry, with the
/// first's MCP server and STS event id), kept in the lake and brought up to date with the
/// credential facts added since, instead of classifying every credential of the lake per run.
///
/// A session's classification reads only its own facts and its chain's ancestors, and both
/// tables keep, per key, the smallest or largest of what their AI sessions say. So when no
/// credential added since shares an access key with an earlier one or is the caller of an
/// earlier one, the sessions kept are unchanged and the new sessions (classified with their
/// ancestors) are merged in; otherwise both are computed from every fact. `ctx` is a context of
/// the lake.
pub async fn summaries(
    ctx: &SessionContext,
    lake: &Lake,
    settings: &Settings,
    reach: Option<DateTime<Utc>>,
) -> Result<(RecordBatch, RecordBatch, RolesKept), QueryError> {
    let rules = crate::correlate::rules::Rules::new(&settings.classify);
    let definition = definition(settings, &["ai_roles, ai_session_names"]);
    // Read before the facts: what is committed from here on counts as added.
    let (versions, tables) = fact_tables(lake).await?;
    let key = (lake.describe(), definition.clone(), versions.clone());
    let last = LAST_SUMMARIES.lock().ok().and_then(|last| {
        last.as_ref()
            .filter(|l| l.0 == key && reaches(l.1, reach))
            .map(|l| (l.2.clone(), l.3.clone()))
    });
    if let Some((roles, names)) = last {
        return Ok((roles, names, RolesKept::Reused));
    }
    // `ai_roles` first (a few rows): its record tells whether the kept tables are still those
    // of the facts. When they are, only the names whose span reaches `reach` are decoded (the
    // names are kept sorted by their last expiry, in small row groups): a windowed context
    // looks up no other, and the names of a long history are not all read per run.
    let roles = read_kept::<SummaryRecord>(lake, ROLES)
        .await
        .filter(|(r, _)| r.definition == definition);
    let added = match (&roles, tables.get(CREDENTIALS)) {
        (Some((record, _)), Some(table)) => {
            let version = record.facts.get(CREDENTIALS).copied().flatten();
            added_since(table, version, &super::sessions::summary_columns()).await?
        }
        (Some((record, _)), None) if record.facts.get(CREDENTIALS) == Some(&None) => {
            Some(Vec::new())
        }
        _ => None,
    };
    let unchanged = added
        .as_ref()
        .is_some_and(|a| a.iter().all(|b| b.num_rows() == 0));
    let names = match &added {
        Some(_) => {
            let reach = reach.filter(|_| unchanged).map(|t| ("last_expires_at", t));
            read_kept_groups::<SummaryRecord>(lake, NAMES, reach).await
        }
        None => None,
    };
    let kept = match (roles, names) {
        (Some((r, roles)), Some((n, names))) if r == n => Some((
            arrow::compute::concat_batches(&super::sessions::ai_roles_schema(), &roles)?,
            concat_names(&names)?,
        )),
        _ => None,
    };
    let updated = match (kept, added) {
        (Some((roles, names)), Some(_)) if unchanged => Some((roles, names, RolesKept::Reused)),
        (Some((roles, names)), Some(added)) => {
            update_summaries(ctx, &rules, &roles, &names, added).await?
        }
        _ => None,
    };
    let (roles, names, how) = match updated {
        Some(u) => u,
        None => {
            let (roles, names) = super::sessions::every_summary(ctx, &rules).await?;
            (roles, names, RolesKept::Computed)
        }
    };
    if how != RolesKept::Reused {
        let record = SummaryRecord {
            definition,
            facts: versions,
        };
        let by_expiry = sorted_by(&names, "last_expires_at")?;
        for (name, batch) in [(ROLES, &roles), (NAMES, &by_expiry)] {
            let written = match encode_kept(&batch.schema(), &record, std::slice::from_ref(batch)) {
                Ok(body) => lake.write_state(name, body).await.map_err(QueryError::from),
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                tracing::warn!(file = name, error = %e, "Could not keep a summary in the lake; it will be computed again next run.");
                break;
            }
        }
    }
    // Only the names reaching `reach` when reused as kept; all of them otherwise.
    let covered = if how == RolesKept::Reused {
        reach
    } else {
        None
    };
    tracing::debug!(
        ?how,
        roles = roles.num_rows(),
        names = names.num_rows(),
        ?covered,
        "Summaries of every session read."
    );
    if let Ok(mut last) = LAST_SUMMARIES.lock() {
        *last = Some((key, covered, roles.clone(), names.clone()));
    }
    Ok((roles, names, how))
}

/// Whether names read for `covered` (None: all of them) hold every name reaching `reach`.
fn reaches(covered: Option<DateTime<Utc>>, reach: Option<DateTime<Utc>>) -> bool {
    match (covered, reach) {
        (None, _) => true,
        (Some(c), Some(r)) => c <= r,
        (Some(_), None) => false,
    }
}

/// `batch` sorted by its timestamp `column` (nulls first).
fn sorted_by(batch: &RecordBatch, column: &str) -> Result<RecordBatch, QueryError> {
    let Some(c) = batch.column_by_name(column) else {
        return Ok(batch.clone());
    };
    let order = arrow::compute::sort_to_indices(c, None, None)?;
    Ok(arrow::compute::take_record_batch(batch, &order)?)
}

/// The lake, definition and fact versions of the summaries this process read last, how far
/// back their names reach (None: all of them), with them: the windowed contexts of one
/// `detect` (and the days it computes) read them once. The same versions of the fact tables
/// give the same summaries.
type Summaries = (
    (String, String, Versions),
    Option<DateTime<Utc>>,
    RecordBatch,
    RecordBatch,
);
static LAST_SUMMARIES: std::sync::Mutex<Option<Summaries>> = std::sync::Mutex::new(None);

/// The kept names' batches as one, in the schema `ai_session_names` has when kept.
fn concat_names(batches: &[RecordBatch]) -> Result<RecordBatch, QueryError> {
    let mut fields = super::sessions::session_names_schema().fields().to_vec();
    fields.push(Arc::new(arrow::datatypes::Field::new(
        super::sessions::FIRST_EVENT,
        DataType::Utf8,
        false,
    )));
    Ok(arrow::compute::concat_batches(
        &Arc::new(arrow::datatypes::Schema::new(fields)),
        batches,
    )?)
}

/// The kept summaries with the sessions of the credential facts `added` merged in, or None when
/// one of them changes a kept session (its key has an earlier fact, or an earlier fact names it
/// as caller).
async fn update_summaries(
    ctx: &SessionContext,
    rules: &crate::correlate::rules::Rules,
    roles: &RecordBatch,
    names: &RecordBatch,
    added: Vec<RecordBatch>,
) -> Result<Option<(RecordBatch, RecordBatch, RolesKept)>, QueryError> {
    // The added facts in the lake's declared types.
    let declared = crate::correlate::facts::schema(CREDENTIALS);
    let mut facts = Vec::with_capacity(added.len());
    for b in &added {
        let mut fields = Vec::new();
        let mut columns = Vec::new();
        for f in b.schema().fields() {
            let want = declared.field_with_name(f.name())?;
            columns.push(arrow::compute::cast(
                b.column_by_name(f.name()).expect("its own field"),
                want.data_type(),
            )?);
            fields.push(want.clone());
        }
        facts.push(RecordBatch::try_new(
            Arc::new(arrow::datatypes::Schema::new(fields)),
            columns,
        )?);
    }
    let mut keys: HashSet<String> = HashSet::new();
    let mut events: HashSet<String> = HashSet::new();
    let mut callers: HashSet<String> = HashSet::new();
    let mut count = 0;
    for b in &facts {
        let (key, id, caller) = (
            text(b, "access_key_id")?,
            text(b, "sts_event_id")?,
            text(b, "caller_access_key_id")?,
        );
        for r in 0..b.num_rows() {
            count += 1;
            keys.extend(at(&key, r));
            events.extend(at(&id, r));
            callers.extend(at(&caller, r));
        }
    }
    let wanted: Vec<Vec<&str>> = keys.iter().map(|k| vec![k.as_str()]).collect();
    for column in ["access_key_id", "caller_access_key_id"] {
        let table = ctx
            .table(CREDENTIALS)
            .await?
            .select_columns(&["sts_event_id", column])?;
        for b in matching(ctx, table, &[column], &wanted)?.collect().await? {
            let id = text(&b, "sts_event_id")?;
            if (0..b.num_rows()).any(|r| at(&id, r).is_none_or(|id| !events.contains(&id))) {
                tracing::debug!(column, "A credential added since changes a kept session.");
                return Ok(None);
            }
        }
    }
    // The new sessions' ancestors, level by level (they are earlier facts, or added ones).
    let columns = super::sessions::summary_columns();
    let mut have = keys.clone();
    let mut next: Vec<String> = callers.into_iter().filter(|c| !have.contains(c)).collect();
    for _ in 0..MAX_CHAIN_FETCHES {
        if next.is_empty() {
            break;
        }
        have.extend(next.iter().cloned());
        let rows: Vec<Vec<&str>> = next.iter().map(|k| vec![k.as_str()]).collect();
        let table = ctx.table(CREDENTIALS).await?.select_columns(&columns)?;
        let found = matching(ctx, table, &["access_key_id"], &rows)?
            .collect()
            .await?;
        next = Vec::new();
        for b in &found {
            let caller = text(b, "caller_access_key_id")?;
            for r in 0..b.num_rows() {
                if let Some(c) = at(&caller, r)
                    && !have.contains(&c)
                {
                    next.push(c);
                }
            }
        }
        next.sort_unstable();
        next.dedup();
        facts.extend(found);
    }
    let (new_roles, new_names) = super::sessions::summaries_of(facts, Some(&keys), rules)?;
    Ok(Some((
        merge_ai_roles(roles, &new_roles)?,
        merge_names(names, &new_names)?,
        RolesKept::Updated(count),
    )))
}

/// `ai_roles` of two sets of sessions together: per role, the smallest mechanism, the smallest
/// MCP server named and the first marking, as `ai_roles` is built.
fn merge_ai_roles(a: &RecordBatch, b: &RecordBatch) -> Result<RecordBatch, QueryError> {
    type Mark = (String, Option<String>, i64);
    let mut marks: std::collections::BTreeMap<String, Mark> = std::collections::BTreeMap::new();
    for batch in [a, b] {
        let (role, how, server) = (
            text(batch, "role_arn")?,
            text(batch, "how")?,
            text(batch, "mcp_server")?,
        );
        let first = batch
            .column_by_name("first_marked")
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
            .ok_or_else(|| {
                QueryError::DataFusion(DataFusionError::Internal("ai_roles.first_marked".into()))
            })?;
        for r in 0..batch.num_rows() {
            let server = (!server.is_null(r)).then(|| server.value(r).to_string());
            let (how, at) = (how.value(r).to_string(), first.value(r));
            marks
                .entry(role.value(r).to_string())
                .and_modify(|m| {
                    if how < m.0 {
                        m.0 = how.clone();
                    }
                    m.1 = match (m.1.take(), server.clone()) {
                        (Some(x), Some(y)) => Some(x.min(y)),
                        (x, y) => x.or(y),
                    };
                    m.2 = m.2.min(at);
                })
                .or_insert((how, server, at));
        }
    }
    Ok(RecordBatch::try_new(
        super::sessions::ai_roles_schema(),
        vec![
            Arc::new(
                marks
                    .keys()
                    .map(|k| Some(k.as_str()))
                    .collect::<arrow::array::StringArray>(),
            ),
            Arc::new(
                marks
                    .values()
                    .map(|m| Some(m.0.as_str()))
                    .collect::<arrow::array::StringArray>(),
            ),
            Arc::new(
                marks
                    .values()
                    .map(|m| m.1.as_deref())
                    .collect::<arrow::array::StringArray>(),
            ),
            Arc::new(
                marks
                    .values()
                    .map(|m| Some(m.2))
                    .collect::<arrow::array::TimestampMicrosecondArray>()
                    .with_timezone("UTC"),
            ),
        ],
    )?)
}

/// `ai_session_names` (kept form) of two sets of sessions together: per role and session name,
/// the first issue (with its MCP server and event id: the smallest issue, then event id), and
/// the last expiry. `a` is the kept table (one row per name) and `b` the names of the sessions
/// added since: `a`'s rows are looked up among `b`'s names, those found merged, the others kept
/// as they are, so a run's merge is one pass over the kept names with no copy of their text (a
/// sort of them all as owned strings took 0.94 s at 5M events). Rows: `a`'s kept, then the
/// merged names in role and name order.
fn merge_names(a: &RecordBatch, b: &RecordBatch) -> Result<RecordBatch, QueryError> {
    // (first issue, its event id, its MCP server, last expiry).
    type Span = (i64, String, Option<String>, i64);
    struct Columns {
        role: arrow::array::StringArray,
        name: arrow::array::StringArray,
        server: arrow::array::StringArray,
        event: arrow::array::StringArray,
        first: arrow::array::TimestampMicrosecondArray,
        last: arrow::array::TimestampMicrosecondArray,
    }
    impl Columns {
        fn span(&self, r: usize) -> Span {
            (
                self.first.value(r),
                self.event.value(r).to_string(),
                at(&self.server, r),
                self.last.value(r),
            )
        }
    }
    let columns = |batch: &RecordBatch| -> Result<Columns, QueryError> {
        let time = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
                .cloned()
                .ok_or_else(|| {
                    QueryError::DataFusion(DataFusionError::Internal(format!(
                        "ai_session_names.{name}"
                    )))
                })
        };
        Ok(Columns {
            role: text(batch, "role_arn")?,
            name: text(batch, "session_name")?,
            server: text(batch, "mcp_server")?,
            event: text(batch, super::sessions::FIRST_EVENT)?,
            first: time("first_issued_at")?,
            last: time("last_expires_at")?,
        })
    };
    let merge = |s: &mut Span, span: Span| {
        let end = s.3.max(span.3);
        if (span.0, &span.1) < (s.0, &s.1) {
            *s = span;
        }
        s.3 = end;
    };
    // `b`'s names, by role then name: `a`'s rows are looked up without a copy of their text.
    let mut spans: BTreeMap<String, BTreeMap<String, Span>> = BTreeMap::new();
    let added = columns(b)?;
    for r in 0..b.num_rows() {
        let span = added.span(r);
        let names = spans.entry(added.role.value(r).to_string()).or_default();
        match names.get_mut(added.name.value(r)) {
            Some(s) => merge(s, span),
            None => {
                names.insert(added.name.value(r).to_string(), span);
            }
        }
    }
    let kept = columns(a)?;
    let mut keep = arrow::array::BooleanBuilder::with_capacity(a.num_rows());
    for r in 0..a.num_rows() {
        match spans
            .get_mut(kept.role.value(r))
            .and_then(|names| names.get_mut(kept.name.value(r)))
        {
            Some(s) => {
                merge(s, kept.span(r));
                keep.append_value(false);
            }
            None => keep.append_value(true),
        }
    }
    let schema = concat_names(&[])?.schema();
    let a = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(kept.role.clone()),
            Arc::new(kept.name.clone()),
            Arc::new(kept.first.clone()),
            Arc::new(kept.last.clone()),
            Arc::new(kept.server.clone()),
            Arc::new(kept.event.clone()),
        ],
    )?;
    let unchanged = arrow::compute::filter_record_batch(&a, &keep.finish())?;
    // (role, session name, span) of each merged name.
    type Merged<'a> = (&'a String, &'a String, &'a Span);
    let merged: Vec<Merged> = spans
        .iter()
        .flat_map(|(role, names)| names.iter().map(move |(name, s)| (role, name, s)))
        .collect();
    let text_of = |f: &dyn Fn(&Merged) -> Option<String>| -> arrow::array::ArrayRef {
        Arc::new(merged.iter().map(f).collect::<arrow::array::StringArray>())
    };
    let time_of = |f: &dyn Fn(&Span) -> i64| -> arrow::array::ArrayRef {
        Arc::new(
            merged
                .iter()
                .map(|m| Some(f(m.2)))
                .collect::<arrow::array::TimestampMicrosecondArray>()
                .with_timezone("UTC"),
        )
    };
    let merged = RecordBatch::try_new(
        schema.clone(),
        vec![
            text_of(&|m| Some(m.0.clone())),
            text_of(&|m| Some(m.1.clone())),
            time_of(&|v| v.0),
            time_of(&|v| v.3),
            text_of(&|m| m.2.2.clone()),
            text_of(&|m| Some(m.2.1.clone())),
        ],
    )?;
    Ok(arrow::compute::concat_batches(
        &schema,
        [&unchanged, &merged],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema};

    #[tokio::test]
    async fn kept_names_sorted_by_expiry_are_read_from_the_row_groups_that_reach_a_time() {
        // Names in an order unrelated to their expiry (one a minute, shuffled by a stride).
        let n = 3 * KEPT_ROW_GROUP + 100;
        let base = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let minutes: Vec<i64> = (0..n as i64).map(|i| (i * 7919) % n as i64).collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("session_name", DataType::Utf8, false),
            Field::new(
                "last_expires_at",
                DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(arrow::array::StringArray::from_iter_values(
                    minutes.iter().map(|m| format!("name-{m}")),
                )),
                Arc::new(
                    arrow::array::TimestampMicrosecondArray::from_iter_values(
                        minutes
                            .iter()
                            .map(|m| (base + chrono::Duration::minutes(*m)).timestamp_micros()),
                    )
                    .with_timezone("UTC"),
                ),
            ],
        )
        .unwrap();
        let record = SummaryRecord {
            definition: "d".into(),
            facts: Versions::new(),
        };
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::create(dir.path()).unwrap();
        let body = encode_kept(
            &schema,
            &record,
            &[sorted_by(&batch, "last_expires_at").unwrap()],
        )
        .unwrap();
        lake.write_state(NAMES, body).await.unwrap();
        let names = |batches: &[RecordBatch]| -> Vec<String> {
            let mut v: Vec<String> = batches
                .iter()
                .flat_map(|b| {
                    let c = b.column(0).as_string::<i32>();
                    (0..b.num_rows())
                        .map(|r| c.value(r).to_string())
                        .collect::<Vec<_>>()
                })
                .collect();
            v.sort();
            v
        };
        let (got, all) = read_kept::<SummaryRecord>(&lake, NAMES).await.unwrap();
        assert_eq!(got, record);
        assert_eq!(names(&all).len(), n);
        // The last 150 minutes reach the time: they span the last two row groups only.
        let at = base + chrono::Duration::minutes(n as i64 - 150);
        let (_, reaching) =
            read_kept_groups::<SummaryRecord>(&lake, NAMES, Some(("last_expires_at", at)))
                .await
                .unwrap();
        let read = names(&reaching);
        let mut wanted: Vec<String> = (n as i64 - 150..n as i64)
            .map(|m| format!("name-{m}"))
            .collect();
        wanted.sort();
        assert!(wanted.iter().all(|w| read.binary_search(w).is_ok()));
        assert_eq!(read.len(), KEPT_ROW_GROUP + 100, "two row groups of four");
        // A time after every expiry reads nothing; one before the first reads every name.
        let after = base + chrono::Duration::minutes(n as i64);
        let (_, none) =
            read_kept_groups::<SummaryRecord>(&lake, NAMES, Some(("last_expires_at", after)))
                .await
                .unwrap();
        assert_eq!(names(&none).len(), 0);
        let (_, every) =
            read_kept_groups::<SummaryRecord>(&lake, NAMES, Some(("last_expires_at", base)))
                .await
                .unwrap();
        assert_eq!(names(&every), names(&all));
    }

    #[tokio::test]
    async fn only_statements_reading_nothing_but_the_kept_table_qualify() {
        let ctx = SessionContext::new();
        let schema = Arc::new(Schema::new(vec![
            Field::new("principal", DataType::Utf8, true),
            Field::new("event_time", DataType::Utf8, true),
        ]));
        ctx.register_table(
            "events",
            Arc::new(MemTable::try_new(schema.clone(), vec![vec![]]).unwrap()),
        )
        .unwrap();
        let view = ctx
            .sql("SELECT principal, event_time FROM events")
            .await
            .unwrap();
        ctx.register_table(TABLE, view.into_view()).unwrap();
        let statements = [
            "WITH days AS (SELECT * FROM ai_api_days) SELECT principal FROM days",
            "SELECT principal FROM ai_api_days WHERE principal IN (SELECT principal FROM events)",
            "WITH ai_api_days AS (SELECT * FROM events) SELECT * FROM ai_api_days",
            "SELECT * FROM events",
            "SELECT 1",
            "not sql",
        ];
        assert_eq!(
            reads_only_kept(&ctx, &statements).await.unwrap(),
            vec![true, false, false, false, false, false]
        );
        // The view is back in place.
        assert_eq!(
            ctx.sql("SELECT * FROM ai_api_days")
                .await
                .unwrap()
                .collect()
                .await
                .unwrap()
                .len(),
            0
        );
        assert!(
            ctx.table_provider(TABLE)
                .await
                .unwrap()
                .get_logical_plan()
                .is_some()
        );
    }
}
