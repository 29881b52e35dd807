//! Whole days of `ai_api_days` kept in the lake between runs.
//!
//! `ai_first_seen_api` compares a window's AI-driven calls with the 14 days before it. Classifying
//! those 14 days again on every scheduled run made a run's cost follow the history, not the new
//! data. A day's rows of `ai_api_days` (one per principal, API and day) are a function of the
//! day's events and of the facts their classification reads, so `detect` keeps them, one file per
//! day, with a record of both, and uses a kept day only while both are as recorded:
//! - the day's events: the paths of the events table's files in the day's date partition (a
//!   Delta file is never rewritten in place: a late event, a duplicate merged or a compaction
//!   changes the set);
//! - the facts: the event ids of every fact the classification of the day's calls can read. The
//!   credentials of the access keys its calls use and of their chains' ancestors, up to the first
//!   caller not in the lake (its `AssumeRole` arriving later is then one of them); the
//!   credentials sharing a role and session name with a call that has no access key, and their
//!   ancestors; the sign-in grants of the sign-in sessions its calls name. Classification of a
//!   session reads only the session and its ancestors (`correlate::sessions`), and the columns of
//!   `ai_api_days` read no other correlation table (not `mcp_links` nor the inferred links). A
//!   late `AssumeRole` that explains a kept day's calls changes its facts and the day is computed
//!   again; the new sessions of every run touch no kept day and leave it kept;
//! - the definitions: this version of agenttrail, [`FORMAT`], `events.sql`, `ai_api_days.sql` and
//!   the classification settings.
//!
//! The answer is therefore the one computed from the lake as it is now, in any ingestion order.
//! A kept day is one Parquet file under `_kept/ai_api_days/`, replaced whole (one PUT on S3, a
//! rename locally), so two workers keeping the same day write the same rows and a crash leaves
//! the previous file or none. A lake that cannot be written (a read-only investigator) gets its
//! days computed and not kept, with a warning.

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
const FORMAT: u32 = 1;

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

/// The record kept with a day's rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    definition: String,
    events: String,
    facts: String,
    deps: Deps,
}

fn sha256(parts: &[&str]) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

/// The hash of everything besides the data that decides a day's rows.
fn definition(settings: &Settings) -> String {
    let rules = serde_json::to_string(&settings.classify).unwrap_or_default();
    sha256(&[
        env!("CARGO_PKG_VERSION"),
        &FORMAT.to_string(),
        include_str!("events.sql"),
        SQL,
        &rules,
    ])
}

/// The first instant of `day` (UTC).
pub fn start_of(day: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
}

fn external(e: impl std::error::Error + Send + Sync + 'static) -> QueryError {
    QueryError::DataFusion(DataFusionError::External(Box::new(e)))
}

/// Per date partition of the events table, the hash of its files' paths.
async fn events_by_day(lake: &Lake) -> Result<HashMap<NaiveDate, String>, QueryError> {
    let Some(delta) = lake.table("events").await? else {
        return Ok(HashMap::new());
    };
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
    let mut files: HashMap<NaiveDate, Vec<&str>> = HashMap::new();
    for r in 0..paths.len() {
        if let Ok(d) = dates.value(r).parse::<NaiveDate>() {
            files.entry(d).or_default().push(paths.value(r));
        }
    }
    Ok(files
        .into_iter()
        .map(|(d, mut p)| {
            p.sort_unstable();
            (d, sha256(&p))
        })
        .collect())
}

fn state_name(day: NaiveDate) -> String {
    format!("{DIR}/{day}.parquet")
}

/// A kept day as stored, or None (absent or unreadable: computed again).
async fn read_day(lake: &Lake, day: NaiveDate) -> Option<(Record, Vec<RecordBatch>)> {
    let bytes = match lake.read_state(&state_name(day)).await {
        Ok(Some(b)) => bytes::Bytes::from(b),
        Ok(None) => return None,
        Err(e) => {
            tracing::debug!(%day, error = %e, "A kept day could not be read; it is computed.");
            return None;
        }
    };
    let parsed = (|| -> Result<(Record, Vec<RecordBatch>), Box<dyn std::error::Error>> {
        let builder =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)?;
        let text = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|k| k.key == RECORD_KEY))
            .and_then(|k| k.value.clone())
            .ok_or("no record")?;
        let record: Record = serde_json::from_str(&text)?;
        let batches = builder.build()?.collect::<Result<Vec<_>, _>>()?;
        Ok((record, batches))
    })();
    match parsed {
        Ok(p) => Some(p),
        Err(e) => {
            tracing::warn!(%day, error = %e, "A kept day is unreadable; it is computed again.");
            None
        }
    }
}

fn encode_day(
    schema: &SchemaRef,
    record: &Record,
    batches: &[RecordBatch],
) -> Result<Vec<u8>, QueryError> {
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
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

/// The facts the records name, by the key they were matched by.
#[derive(Default)]
struct Index {
    /// Access key -> (STS event id, caller's access key) of its credentials.
    by_key: HashMap<String, Vec<(String, Option<String>)>>,
    /// Role and session name -> (STS event id, access key) of its credentials.
    by_name: HashMap<(String, String), Vec<(String, String)>>,
    /// Sign-in session -> event ids of its grants.
    grants: HashMap<String, Vec<String>>,
}

impl Index {
    async fn add_keys(&mut self, ctx: &SessionContext, keys: &[String]) -> Result<(), QueryError> {
        if keys.is_empty() {
            return Ok(());
        }
        for k in keys {
            self.by_key.entry(k.clone()).or_default();
        }
        let rows: Vec<Vec<&str>> = keys.iter().map(|k| vec![k.as_str()]).collect();
        let table = ctx.table(CREDENTIALS).await?.select_columns(&[
            "access_key_id",
            "sts_event_id",
            "caller_access_key_id",
        ])?;
        for b in matching(ctx, table, &["access_key_id"], &rows)?
            .collect()
            .await?
        {
            let (key, id, caller) = (
                text(&b, "access_key_id")?,
                text(&b, "sts_event_id")?,
                text(&b, "caller_access_key_id")?,
            );
            for r in 0..b.num_rows() {
                if let (Some(k), Some(id)) = (at(&key, r), at(&id, r)) {
                    let caller = at(&caller, r);
                    self.by_key.entry(k).or_default().push((id, caller));
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
            "sts_event_id",
            "role_arn",
            "session_name",
        ])?;
        for b in matching(ctx, table, &["role_arn", "session_name"], &rows)?
            .collect()
            .await?
        {
            let (role, name, id, key) = (
                text(&b, "role_arn")?,
                text(&b, "session_name")?,
                text(&b, "sts_event_id")?,
                text(&b, "access_key_id")?,
            );
            for r in 0..b.num_rows() {
                if let (Some(role), Some(name), Some(id), Some(k)) =
                    (at(&role, r), at(&name, r), at(&id, r), at(&key, r))
                {
                    self.by_name.entry((role, name)).or_default().push((id, k));
                }
            }
        }
        Ok(())
    }

    async fn add_grants(
        &mut self,
        ctx: &SessionContext,
        arns: &[String],
    ) -> Result<(), QueryError> {
        if arns.is_empty() {
            return Ok(());
        }
        let rows: Vec<Vec<&str>> = arns.iter().map(|a| vec![a.as_str()]).collect();
        let table = ctx
            .table(SIGNIN_GRANTS)
            .await?
            .select_columns(&["signin_session_arn", "event_id"])?;
        for b in matching(ctx, table, &["signin_session_arn"], &rows)?
            .collect()
            .await?
        {
            let (arn, id) = (text(&b, "signin_session_arn")?, text(&b, "event_id")?);
            for r in 0..b.num_rows() {
                if let (Some(arn), Some(id)) = (at(&arn, r), at(&id, r)) {
                    self.grants.entry(arn).or_default().push(id);
                }
            }
        }
        Ok(())
    }

    /// The hash of the facts `deps` names, as the lake holds them now.
    fn fingerprint(&self, deps: &Deps) -> String {
        let mut ids: Vec<&str> = Vec::new();
        for k in &deps.keys {
            ids.extend(
                self.by_key
                    .get(k)
                    .into_iter()
                    .flatten()
                    .map(|f| f.0.as_str()),
            );
        }
        for n in &deps.names {
            ids.extend(
                self.by_name
                    .get(n)
                    .into_iter()
                    .flatten()
                    .map(|f| f.0.as_str()),
            );
        }
        for a in &deps.signin {
            ids.extend(self.grants.get(a).into_iter().flatten().map(String::as_str));
        }
        ids.sort_unstable();
        ids.dedup();
        sha256(&ids)
    }
}

/// Read the facts `deps` name (no closure: the recorded keys are closed already).
async fn index_of<'a>(
    ctx: &SessionContext,
    deps: impl Iterator<Item = &'a Deps> + Clone,
) -> Result<Index, QueryError> {
    let keys: BTreeSet<&String> = deps.clone().flat_map(|d| &d.keys).collect();
    let names: BTreeSet<&(String, String)> = deps.clone().flat_map(|d| &d.names).collect();
    let arns: BTreeSet<&String> = deps.flat_map(|d| &d.signin).collect();
    let mut index = Index::default();
    index
        .add_keys(ctx, &keys.into_iter().cloned().collect::<Vec<_>>())
        .await?;
    index
        .add_names(ctx, &names.into_iter().cloned().collect::<Vec<_>>())
        .await?;
    index
        .add_grants(ctx, &arns.into_iter().cloned().collect::<Vec<_>>())
        .await?;
    Ok(index)
}

/// Close each day's keys over the chains' callers and the keys of its names' sessions, reading
/// the facts they need; returns the index of those facts.
async fn close(
    ctx: &SessionContext,
    days: &mut BTreeMap<NaiveDate, Deps>,
) -> Result<Index, QueryError> {
    let mut index = Index::default();
    let names: BTreeSet<(String, String)> = days.values().flat_map(|d| d.names.clone()).collect();
    index
        .add_names(ctx, &names.into_iter().collect::<Vec<_>>())
        .await?;
    let mut wanted: HashSet<String> = days.values().flat_map(|d| d.keys.clone()).collect();
    wanted.extend(index.by_name.values().flatten().map(|f| f.1.clone()));
    for _ in 0..MAX_CHAIN_FETCHES {
        let next: Vec<String> = wanted
            .iter()
            .filter(|k| !index.by_key.contains_key(*k))
            .cloned()
            .collect();
        if next.is_empty() {
            break;
        }
        index.add_keys(ctx, &next).await?;
        for k in &next {
            wanted.extend(index.by_key[k].iter().filter_map(|f| f.1.clone()));
        }
    }
    let arns: BTreeSet<String> = days.values().flat_map(|d| d.signin.clone()).collect();
    index
        .add_grants(ctx, &arns.into_iter().collect::<Vec<_>>())
        .await?;
    for deps in days.values_mut() {
        let mut keys: BTreeSet<String> = deps.keys.iter().cloned().collect();
        for n in &deps.names {
            keys.extend(
                index
                    .by_name
                    .get(n)
                    .into_iter()
                    .flatten()
                    .map(|f| f.1.clone()),
            );
        }
        let mut todo: Vec<String> = keys.iter().cloned().collect();
        while let Some(k) = todo.pop() {
            for caller in index
                .by_key
                .get(&k)
                .into_iter()
                .flatten()
                .filter_map(|f| f.1.as_ref())
            {
                if keys.insert(caller.clone()) {
                    todo.push(caller.clone());
                }
            }
        }
        deps.keys = keys.into_iter().collect();
    }
    Ok(index)
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
    events: &HashMap<NaiveDate, String>,
    definition: &str,
) -> Result<(SchemaRef, BTreeMap<NaiveDate, (Record, Vec<RecordBatch>)>), QueryError> {
    let range = TimeRange {
        since: Some(start_of(first)),
        until: Some(start_of(end)),
        every_role: false,
    };
    let ctx = super::build_context_in(lake, settings, range).await?;
    let df = ctx.table(TABLE).await?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let rows = df.collect().await?;
    let mut deps = deps_by_day(&ctx).await?;
    let mut day = first;
    while day < end {
        deps.entry(day).or_default();
        day = day.succ_opt().unwrap_or(end);
    }
    let index = close(&ctx, &mut deps).await?;
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
        let record = Record {
            definition: definition.to_string(),
            events: events.get(&day).cloned().unwrap_or_else(|| sha256(&[])),
            facts: index.fingerprint(&deps),
            deps,
        };
        out.insert(day, (record, batches));
    }
    Ok((schema, out))
}

/// The rows of `ai_api_days` of the whole days `[first, end)`: the kept days still valid, the
/// others computed and kept. `ctx` is any context of the lake (its fact tables are read whole).
pub async fn days(
    ctx: &SessionContext,
    lake: &Lake,
    settings: &Settings,
    first: NaiveDate,
    end: NaiveDate,
) -> Result<(Vec<RecordBatch>, KeptStats), QueryError> {
    let started = std::time::Instant::now();
    let definition = definition(settings);
    let events = events_by_day(lake).await?;
    let mut dates = Vec::new();
    let mut d = first;
    while d < end {
        dates.push(d);
        d = d.succ_opt().unwrap_or(end);
    }
    let stored = futures::future::join_all(dates.iter().map(|d| read_day(lake, *d))).await;
    let empty = sha256(&[]);
    let mut candidates: BTreeMap<NaiveDate, (Record, Vec<RecordBatch>)> = BTreeMap::new();
    for (d, s) in dates.iter().zip(stored) {
        if let Some((record, batches)) = s
            && record.definition == definition
            && record.events == *events.get(d).unwrap_or(&empty)
        {
            candidates.insert(*d, (record, batches));
        }
    }
    tracing::debug!(
        candidates = candidates.len(),
        ms = started.elapsed().as_millis() as u64,
        "Kept days read back."
    );
    let index = index_of(ctx, candidates.values().map(|c| &c.0.deps)).await?;
    tracing::debug!(
        ms = started.elapsed().as_millis() as u64,
        "Facts of the kept days read."
    );
    candidates.retain(|_, (record, _)| index.fingerprint(&record.deps) == record.facts);
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
    if let (Some(lo), Some(hi)) = (stale.first(), stale.last()) {
        let hi = hi.succ_opt().unwrap_or(*hi);
        let (schema, computed) = compute(lake, settings, *lo, hi, &events, &definition).await?;
        let mut warned = false;
        for (day, (record, batches)) in computed {
            // A day between two stale ones that is still valid is read as kept (the same rows).
            if !stale.contains(&day) {
                continue;
            }
            stats.computed += 1;
            let written = match encode_day(&schema, &record, &batches) {
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
    let (kept, stats) = days(ctx, lake, settings, from.date_naive(), day).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema};

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
