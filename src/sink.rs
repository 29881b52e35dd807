//! The sink stage: the lake, a set of Delta Lake tables in a local folder or under an S3 prefix.
//!
//! Layout (what Athena, Trino, Spark and DuckDB attach; see `lake export-ddl`):
//! ```text
//! <lake>/events/_delta_log/…                      accepted records, one row per eventID
//! <lake>/events/event_date=YYYY-MM-DD/part-….parquet
//! <lake>/rejects/…                                records/objects that could not be read
//! <lake>/ingested/…                               the ledger: each source object read (`ledger`)
//! <lake>/facts_*/…                                what the STS, MCP and sign-in events said
//!                                                 (`correlate::facts`)
//! <lake>/integrity/…                              digest checks
//! <lake>/_publish_pending.json, _full_scan, …     small state files of the scheduled job
//! ```
//!
//! A commit writes, in this order: the fact and integrity rows (appends) and the rejects (keyed
//! insert), these at once; then the events (keyed insert: only rows whose `dedup_key` within the
//! batch's dates, resp. the rejects' `(source_object, record_index)`, is not stored yet; see
//! `delta::insert_new`; the events' files are written as their objects are added, and the insert
//! commits them, see `delta::insert_written`); then the ledger rows of its source objects. Each
//! step is one Delta commit, atomic on its own (files first, then one put-if-absent log entry). A
//! crash between two steps leaves source objects without ledger rows: the next run reads them
//! again, the inserts insert nothing they already hold, and the facts they state again are
//! dropped as duplicates by their event id at query time. Killing the process at any moment and
//! re-running therefore yields the same events as one uninterrupted run, and so do several
//! workers writing one lake at once (an insert that raced another writer's append to the same
//! dates is run again on the newer table).
//! Files of a writer that died before its log entry are in no table version; `lake vacuum`
//! deletes them once they are older than its retention period.
//!
//! Which copy of a twice-delivered event is kept: the first committed. Copies are the same event
//! (same `eventID`, same record); only the provenance columns `source_object`/`source_index` can
//! differ, and no query answer depends on them.

pub mod ddl;
pub mod delta;
pub mod lease;
pub mod ledger;
pub mod maintain;
pub mod parquet;
pub mod remote;
pub mod stored_keys;

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{Date32Type, SchemaRef};
use thiserror::Error;

use crate::correlate::facts;
use delta::Location;
use ledger::{Ledger, SourceEntry};

/// Errors of the sink stage; each names the file or table at fault.
#[derive(Debug, Error)]
pub enum SinkError {
    /// A file-system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Writing an object or file failed.
    #[error("failed to write {path}: {message}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// A Delta table could not be read or written.
    #[error("table {table}: {message}")]
    Delta {
        /// The table's URL.
        table: String,
        /// Why.
        message: String,
    },
    /// Another run holds the S3 lake's lease.
    #[error(
        "the lake {lake} is held by run {holder} until {expires}; one scheduled run at a time publishes from an S3 lake"
    )]
    Leased {
        /// The lease object.
        lake: String,
        /// Who holds it.
        holder: String,
        /// When it lapses.
        expires: String,
    },
    /// Arrow failed while preparing a commit.
    #[error("failed to prepare commit {commit}: {message}")]
    Arrow {
        /// Commit id.
        commit: String,
        /// Why.
        message: String,
    },
}

impl SinkError {
    /// Wrap an I/O error with its path.
    pub fn io(path: &Path, source: std::io::Error) -> SinkError {
        SinkError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// The lake's small tables besides `events`, `rejects` and `ingested`, written by commits:
/// the digest checks and the correlation facts.
pub const SMALL_TABLES: &[&str] = &[
    "integrity",
    facts::CREDENTIALS,
    facts::MCP_REQUESTS,
    facts::SIGNIN_GRANTS,
    facts::MCP_ANNOUNCED,
];

/// Every table of the lake.
pub const TABLES: &[&str] = &[
    "events",
    "rejects",
    ledger::TABLE,
    "integrity",
    facts::CREDENTIALS,
    facts::MCP_REQUESTS,
    facts::SIGNIN_GRANTS,
    facts::MCP_ANNOUNCED,
];

/// The declared Arrow schema of a lake table (None for a name that is not one).
pub fn table_schema(name: &str) -> Option<SchemaRef> {
    match name {
        "events" => Some(crate::schema::events_schema()),
        "rejects" => Some(crate::schema::rejects_schema()),
        "integrity" => Some(crate::schema::integrity_schema()),
        ledger::TABLE => Some(ledger::schema()),
        t if facts::FACT_TABLES.contains(&t) => Some(facts::schema(t)),
        _ => None,
    }
}

/// The partition column of a lake table.
pub fn partition_column(name: &str) -> Option<&'static str> {
    (name == "events").then_some("event_date")
}

/// Rows read back from Delta in the declared schema: columns in declared order, strings as
/// `Utf8` (delta-rs may hand them out as views), types cast where the engine chose another.
pub fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, SinkError> {
    let aerr = |e: arrow::error::ArrowError| SinkError::Arrow {
        commit: "read".into(),
        message: e.to_string(),
    };
    let mut cols = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let col = match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => c.clone(),
            Some(c) => arrow::compute::cast(c, f.data_type()).map_err(aerr)?,
            None => arrow::array::new_null_array(f.data_type(), batch.num_rows()),
        };
        cols.push(col);
    }
    let relaxed = Arc::new(arrow::datatypes::Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ));
    let out = RecordBatch::try_new(relaxed, cols).map_err(aerr)?;
    // Keep the declared nullability when the data allows it.
    Ok(RecordBatch::try_new(schema.clone(), out.columns().to_vec()).unwrap_or(out))
}

/// A lake: a local folder or an S3 prefix, holding Delta tables.
#[derive(Debug, Clone)]
pub struct Lake {
    location: Location,
    options: HashMap<String, String>,
    remote: Option<remote::RemoteLake>,
    /// Tables as first opened, when pinned ([`Lake::pinned`]).
    pinned: Option<Pinned>,
    /// The keys this process's keyed inserts know to be stored (shared by clones).
    stored: Arc<std::sync::Mutex<stored_keys::StoredKeys>>,
}

/// The tables of a pinned lake, each as it was first opened (None: not created then).
#[derive(Clone, Default)]
struct Pinned(Arc<std::sync::Mutex<HashMap<String, Option<deltalake::DeltaTable>>>>);

impl std::fmt::Debug for Pinned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self
            .0
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_tuple("Pinned").field(&names).finish()
    }
}

/// What a commit did.
#[derive(Debug, Clone, Default)]
pub struct CommitReport {
    /// Commit id (in each Delta commit's app metadata, and in the ledger rows).
    pub id: String,
    /// Events inserted.
    pub events_inserted: u64,
    /// Events the lake already held (delivered before, or by another worker).
    pub events_already_stored: u64,
    /// Source objects recorded in the ledger.
    pub sources: usize,
}

impl Lake {
    /// A lake in the local folder `root` (created if needed; tables appear with their first
    /// commit).
    pub fn create(root: &Path) -> Result<Lake, SinkError> {
        std::fs::create_dir_all(root).map_err(|e| SinkError::io(root, e))?;
        Ok(Lake::open(root))
    }

    /// A lake in the local folder `root`, for reading; it may be empty or absent.
    pub fn open(root: &Path) -> Lake {
        Lake {
            location: Location::Local(root.to_path_buf()),
            options: HashMap::new(),
            remote: None,
            pinned: None,
            stored: Arc::default(),
        }
    }

    /// A lake from a CLI argument: a folder, or `s3://bucket/prefix` read and written in place.
    pub async fn resolve(uri: &str) -> Result<Lake, SinkError> {
        if uri.starts_with("s3://") {
            let (bucket, prefix) =
                crate::source::parse_s3_uri(uri).map_err(|e| SinkError::Write {
                    path: uri.to_string(),
                    message: e.to_string(),
                })?;
            let prefix = prefix.trim_end_matches('/').to_string();
            Ok(Lake {
                location: Location::S3 {
                    bucket: bucket.clone(),
                    prefix: prefix.clone(),
                },
                options: delta::s3_options().await,
                remote: Some(remote::RemoteLake::new(
                    crate::aws::s3_client().await,
                    bucket,
                    prefix,
                )),
                pinned: None,
                stored: Arc::default(),
            })
        } else {
            Lake::create(Path::new(uri))
        }
    }

    /// How the lake is named in messages: its folder or `s3://` URI.
    pub fn describe(&self) -> String {
        self.location.describe()
    }

    /// Where the lake lives.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The folder of a local lake.
    pub fn local_root(&self) -> Option<&Path> {
        self.location.local_root()
    }

    /// The S3 side of an S3 lake (state files and the scheduled run's lease).
    pub fn remote(&self) -> Option<&remote::RemoteLake> {
        self.remote.as_ref()
    }

    /// The storage options delta-rs needs for this lake.
    pub fn storage_options(&self) -> &HashMap<String, String> {
        &self.options
    }

    /// The URL of table `name`.
    pub fn table_url(&self, name: &str) -> Result<url::Url, SinkError> {
        self.location.table_url(name)
    }

    /// This lake with each table read at one version: the first [`Lake::table`] of a name
    /// opens it, and every later one (of this value or its clones) gets that same version. A
    /// `detect` reads its contexts, the kept state and the days it classifies again at one
    /// snapshot of the lake, and opens each table once (its Delta log read once: a local replay,
    /// or a listing and GETs on S3), not once per step. Not for writing: a pinned lake does not
    /// see its own commits.
    pub fn pinned(&self) -> Lake {
        Lake {
            pinned: Some(Pinned::default()),
            ..self.clone()
        }
    }

    /// Table `name` at its latest version (at its pinned version when pinned, see
    /// [`Lake::pinned`]); None before its first commit.
    pub async fn table(&self, name: &str) -> Result<Option<deltalake::DeltaTable>, SinkError> {
        let Some(pinned) = &self.pinned else {
            return delta::open(&self.table_url(name)?, &self.options).await;
        };
        if let Some(t) = pinned.0.lock().ok().and_then(|m| m.get(name).cloned()) {
            return Ok(t);
        }
        let opened = delta::open(&self.table_url(name)?, &self.options).await?;
        // Two opens of one name at once: the first one kept wins, so all see one version.
        Ok(match pinned.0.lock() {
            Ok(mut m) => m.entry(name.to_string()).or_insert(opened).clone(),
            Err(_) => opened,
        })
    }

    /// Tables `names`, opened at once (their logs read concurrently: on S3 each open is a
    /// listing and a few GETs, locally a replay of its log).
    pub async fn tables(
        &self,
        names: &[&str],
    ) -> Result<Vec<Option<deltalake::DeltaTable>>, SinkError> {
        let mut set = tokio::task::JoinSet::new();
        for (i, name) in names.iter().enumerate() {
            let (lake, name) = (self.clone(), name.to_string());
            set.spawn(async move { (i, lake.table(&name).await) });
        }
        let mut out: Vec<Option<deltalake::DeltaTable>> = vec![None; names.len()];
        while let Some(joined) = set.join_next().await {
            let (i, table) = joined.map_err(|e| SinkError::Delta {
                table: self.describe(),
                message: format!("opening the tables failed: {e}"),
            })?;
            out[i] = table?;
        }
        Ok(out)
    }

    /// Every row of a (small) table, in its declared schema.
    pub async fn read_table(&self, name: &str) -> Result<Vec<RecordBatch>, SinkError> {
        let Some(table) = self.table(name).await? else {
            return Ok(Vec::new());
        };
        let url = self.table_url(name)?;
        let derr = |e: datafusion::error::DataFusionError| delta::error(&url, e.into());
        let ctx = datafusion::prelude::SessionContext::new();
        let provider = table.table_provider().await.map_err(derr)?;
        let batches = ctx
            .read_table(provider)
            .map_err(derr)?
            .collect()
            .await
            .map_err(derr)?;
        let Some(schema) = table_schema(name) else {
            return Ok(batches);
        };
        batches.iter().map(|b| conform(b, &schema)).collect()
    }

    /// The ledger of ingested source objects.
    pub async fn ledger(&self) -> Result<Ledger, SinkError> {
        Ok(Ledger::from_batches(&self.read_table(ledger::TABLE).await?))
    }

    /// A small state file of the lake (`_publish_pending.json`, `_full_scan`, the key cache
    /// under `_integrity/`): the S3 object of an S3 lake, else the local file. None when absent.
    pub async fn read_state(&self, name: &str) -> Result<Option<Vec<u8>>, SinkError> {
        match (&self.remote, &self.location) {
            (Some(remote), _) => remote.get_state(name).await,
            (None, Location::Local(root)) => match std::fs::read(root.join(name)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(SinkError::io(&root.join(name), e)),
            },
            (None, Location::S3 { .. }) => Ok(None),
        }
    }

    /// Replace a small state file whole: one PUT on S3 (atomic), temp file and rename locally.
    pub async fn write_state(&self, name: &str, body: Vec<u8>) -> Result<(), SinkError> {
        let root = match (&self.remote, &self.location) {
            (Some(remote), _) => return remote.put_state(name, body).await,
            (None, Location::Local(root)) => root,
            (None, Location::S3 { .. }) => return Ok(()),
        };
        let path = root.join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| SinkError::io(dir, e))?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, body).map_err(|e| SinkError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| SinkError::io(&path, e))
    }

    /// Write and commit `pending` (see the module doc for the order of the steps).
    pub async fn commit(&self, mut pending: PendingCommit) -> Result<CommitReport, SinkError> {
        let id = new_commit_id();
        let started = std::time::Instant::now();
        let step = |what: &str| {
            let ms = started.elapsed().as_millis() as u64;
            tracing::debug!(commit = %id, step = what, ms, "Commit step done.");
        };
        let written = match pending.encoder.take() {
            Some(encoder) => Some(encoder.finish().await?),
            None => None,
        };
        step("encoded");
        let prepared = {
            let id = id.clone();
            tokio::task::spawn_blocking(move || prepare(pending, written, &id))
                .await
                .map_err(|e| SinkError::Arrow {
                    commit: "commit".into(),
                    message: e.to_string(),
                })??
        };
        let Prepared {
            tables,
            events,
            events_rows,
            rejects,
            sources,
        } = prepared;
        step("prepared");
        // The fact, integrity and reject rows go to tables of their own: their commits run at
        // once (one round of log reads and puts instead of one per table, which is what a small
        // scheduled run spends most of its commit time on, above all against S3).
        let rejects_url = self.table_url("rejects")?;
        let mut first: Vec<futures::future::BoxFuture<'_, Result<(), SinkError>>> = Vec::new();
        first.push(Box::pin(async {
            delta::insert_new(
                &rejects_url,
                &self.options,
                rejects,
                None,
                &["source_object", "record_index"],
                &id,
                Some(&self.stored),
            )
            .await
            .map(|_| ())
        }));
        for (table, batches) in tables {
            let url = self.table_url(table)?;
            let id = &id;
            first.push(Box::pin(async move {
                delta::append(&url, &self.options, batches, None, id).await
            }));
        }
        futures::future::try_join_all(first).await?;
        step("facts and rejects committed");
        let inserted = match events {
            Some(events) => {
                let superseded = events.superseded;
                delta::insert_written(
                    &self.table_url("events")?,
                    &self.options,
                    events.written,
                    events.keys,
                    &|b| keep_unless_superseded(b, &superseded),
                    &["dedup_key"],
                    &id,
                    Some(&self.stored),
                )
                .await?
            }
            None => 0,
        };
        let rows = events_rows;
        step("events committed");
        let ledger_rows =
            ledger::to_batch(&sources, &id, chrono::Utc::now()).map_err(|e| SinkError::Arrow {
                commit: id.clone(),
                message: e.to_string(),
            })?;
        delta::append(
            &self.table_url(ledger::TABLE)?,
            &self.options,
            vec![ledger_rows],
            None,
            &id,
        )
        .await?;
        step("ledger committed");
        Ok(CommitReport {
            id,
            events_inserted: inserted,
            events_already_stored: (rows as u64).saturating_sub(inserted),
            sources: sources.len(),
        })
    }
}

/// A commit's rows, ready to write.
struct Prepared {
    tables: Vec<(&'static str, Vec<RecordBatch>)>,
    events: Option<WrittenEvents>,
    /// Events of the commit, copies within it excluded.
    events_rows: usize,
    rejects: Vec<RecordBatch>,
    sources: Vec<SourceEntry>,
}

/// A commit's events: encoded into new files as they came, with what the insert checks.
struct WrittenEvents {
    written: delta::Written,
    /// The `dedup_key` and `event_date` of each row to insert (copies in the commit left out).
    keys: Vec<RecordBatch>,
    /// (key, object) of rows written that a later copy in the commit replaced.
    superseded: hashbrown::HashSet<(String, String)>,
}

/// Which rows of `batch` (events, read back from their files) are not `superseded` copies.
fn keep_unless_superseded(
    batch: &RecordBatch,
    superseded: &hashbrown::HashSet<(String, String)>,
) -> Result<BooleanArray, deltalake::DeltaTableError> {
    if superseded.is_empty() {
        return Ok(BooleanArray::from(vec![true; batch.num_rows()]));
    }
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| deltalake::DeltaTableError::Generic(format!("{name} missing")))
    };
    let (keys, objects) = (column("dedup_key")?, column("source_object")?);
    Ok((0..batch.num_rows())
        .map(|r| {
            Some(!superseded.contains(&(keys.value(r).to_string(), objects.value(r).to_string())))
        })
        .collect())
}

/// Drop in-commit duplicates and gather the commit's facts and small tables.
fn prepare(
    mut pending: PendingCommit,
    written: Option<delta::Written>,
    id: &str,
) -> Result<Prepared, SinkError> {
    let aerr = |e: arrow::error::ArrowError| SinkError::Arrow {
        commit: id.to_string(),
        message: e.to_string(),
    };
    let mut extra = std::mem::take(&mut pending.tables);
    // The correlation facts these events state, stored beside them (see `correlate::facts`).
    extra.extend(pending.facts.to_batches().map_err(aerr)?);
    let superseded = std::mem::take(&mut pending.superseded);
    let events_rows = pending.event_rows;
    let (keys, rejects, sources) = pending.into_parts();
    let mut tables = Vec::new();
    for table in SMALL_TABLES {
        let batches: Vec<RecordBatch> = extra
            .iter()
            .filter(|(t, b)| t == table && b.num_rows() > 0)
            .map(|(_, b)| b.clone())
            .collect();
        if !batches.is_empty() {
            tables.push((*table, batches));
        }
    }
    let events = written.map(|written| WrittenEvents {
        written,
        keys,
        superseded,
    });
    Ok(Prepared {
        tables,
        events,
        events_rows,
        rejects,
        sources,
    })
}

/// Objects' events waiting for the encoder: enough that decoding goes on while it is busy.
const ENCODE_QUEUE: usize = 16;

/// The task that encodes a pending commit's events into the commit's new files, object by
/// object, beside the ingest loop: in that loop the encoding held up the fetches and decodes of
/// the next objects (a third more wall time for a million events).
struct Encoder {
    queue: tokio::sync::mpsc::Sender<Vec<RecordBatch>>,
    task: Option<tokio::task::JoinHandle<Result<delta::Written, SinkError>>>,
}

impl Encoder {
    /// Start encoding into new files of `lake`'s `events` table.
    fn start(lake: &Lake) -> Result<Encoder, SinkError> {
        let url = lake.table_url("events")?;
        let mut written = delta::Written::new(
            &url,
            &lake.options,
            crate::schema::events_schema(),
            partition_column("events"),
        )?;
        let (queue, mut objects) = tokio::sync::mpsc::channel::<Vec<RecordBatch>>(ENCODE_QUEUE);
        let task = tokio::spawn(async move {
            while let Some(parts) = objects.recv().await {
                written
                    .write(parts)
                    .await
                    .map_err(|e| delta::error(&url, e))?;
            }
            Ok(written)
        });
        Ok(Encoder {
            queue,
            task: Some(task),
        })
    }

    /// Queue one object's events (one batch per date); waits while the queue is full.
    async fn send(&mut self, parts: Vec<RecordBatch>) -> Result<(), SinkError> {
        if self.queue.send(parts).await.is_ok() {
            return Ok(());
        }
        // The task stopped on an error: report it.
        match self.task.take() {
            Some(task) => task.await.map_err(encoder_died)?.map(|_| ()),
            None => Err(encoder_died("it stopped earlier")),
        }
    }

    /// Wait for every queued object to be encoded; the files, not flushed yet.
    async fn finish(self) -> Result<delta::Written, SinkError> {
        drop(self.queue);
        match self.task {
            Some(task) => task.await.map_err(encoder_died)?,
            None => Err(encoder_died("it stopped earlier")),
        }
    }
}

/// The encoder task panicked or was lost.
fn encoder_died(e: impl std::fmt::Display) -> SinkError {
    SinkError::Write {
        path: "events".into(),
        message: format!("the events' encoder stopped: {e}"),
    }
}

/// Records and sources accumulated for the next commit.
///
/// The events of each object added are encoded into the commit's new `events` files at once
/// (`delta::Written`); what stays in memory is each row's key and date, for the insert's check
/// against the keys stored already.
///
/// Duplicates (same `dedup_key`) inside the commit are resolved as the query layer resolves them
/// across commits: the copy from the smallest `(source_object, source_index)` is kept, so the
/// stored rows do not depend on the order in which concurrent fetches completed. A copy that
/// replaces one already written is left out of the files when the commit is written.
#[derive(Default)]
pub struct PendingCommit {
    /// Per object with events, each row's `dedup_key` and `event_date`.
    events: Vec<RecordBatch>,
    /// Source object of each batch in `events` (a batch holds one object's rows).
    batch_objects: Vec<String>,
    /// Rows of each batch dropped as duplicates.
    dropped: Vec<Vec<usize>>,
    /// (key, object) of written rows that a later copy replaced.
    superseded: hashbrown::HashSet<(String, String)>,
    /// The task writing the events' new files (None until the first events are added).
    encoder: Option<Encoder>,
    /// The correlation facts of the events added (one copy of each event).
    facts: facts::Facts,
    rejects: Vec<RecordBatch>,
    sources: Vec<SourceEntry>,
    /// Every key of the commit as (hash, batch, row) into `events`: the key itself stays in its
    /// batch, so adding an event allocates nothing (foldhash: one lookup per event ingested).
    seen: hashbrown::HashTable<(u64, u32, u32)>,
    /// Hashes the keys of `seen`.
    hasher: hashbrown::DefaultHashBuilder,
    duplicates: u64,
    /// Rows of the lake's small tables (e.g. `integrity`), by table.
    tables: Vec<(&'static str, RecordBatch)>,
    /// Rows in `events` so far, duplicates excluded.
    pub event_rows: usize,
}

impl PendingCommit {
    /// Number of source objects added.
    pub fn objects(&self) -> usize {
        self.sources.len()
    }

    /// Bytes the events' keys and dates hold (the events themselves are encoded already).
    pub fn key_bytes(&self) -> usize {
        self.events.iter().map(|b| b.get_array_memory_size()).sum()
    }

    /// Duplicates dropped so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Add rows to one of the lake's small tables (`integrity`), committed with the rest.
    pub fn add_rows(&mut self, table: &'static str, batch: RecordBatch) {
        if batch.num_rows() > 0 {
            self.tables.push((table, batch));
        }
    }

    /// Add one decoded object (all rows of `events` come from `source.uri`): its events are
    /// encoded into the commit's files of `lake`'s `events` table.
    pub async fn add(
        &mut self,
        lake: &Lake,
        source: SourceEntry,
        events: RecordBatch,
        rejects: RecordBatch,
    ) -> Result<(), SinkError> {
        if events.num_rows() > 0 {
            let aerr = |e: arrow::error::ArrowError| SinkError::Arrow {
                commit: "pending".into(),
                message: e.to_string(),
            };
            let batch_no = self.events.len();
            let narrow = ["dedup_key", "event_date"]
                .iter()
                .map(|c| events.schema().index_of(c))
                .collect::<Result<Vec<_>, _>>()
                .and_then(|columns| events.project(&columns))
                .map_err(aerr)?;
            let keys = narrow.column(0).as_string::<i32>().clone();
            self.events.push(narrow);
            self.dropped.push(Vec::new());
            self.batch_objects.push(source.uri.clone());
            // Rows of this object whose key is new to the commit (their facts are taken), and
            // rows that lost to a copy already added (not written).
            let mut first_seen = Vec::new();
            let (batches, seen, hasher) = (&self.events, &mut self.seen, &self.hasher);
            // Column 0 of each batch in `events` is its `dedup_key`.
            let key_at = |b: u32, r: u32| {
                batches[b as usize]
                    .column(0)
                    .as_string::<i32>()
                    .value(r as usize)
            };
            for row in 0..events.num_rows() {
                let key = keys.value(row);
                let hash = hasher.hash_one(key);
                // A commit's objects and an object's records are far fewer than 2^32 (an
                // object is capped at --max-decompressed-mib), so u32 holds both.
                let (b32, r32) = (batch_no as u32, row as u32);
                match seen.entry(hash, |&(_, b, r)| key_at(b, r) == key, |e| e.0) {
                    hashbrown::hash_table::Entry::Vacant(slot) => {
                        slot.insert((hash, b32, r32));
                        self.event_rows += 1;
                        first_seen.push(row);
                    }
                    hashbrown::hash_table::Entry::Occupied(mut slot) => {
                        let (_, b, r) = *slot.get();
                        let (b, r) = (b as usize, r as usize);
                        self.duplicates += 1;
                        // Rows within a batch are in `source_index` order, so (object, row) orders
                        // copies as (source_object, source_index) does.
                        let new_first = (self.batch_objects[batch_no].as_str(), row)
                            < (self.batch_objects[b].as_str(), r);
                        if new_first {
                            self.dropped[b].push(r);
                            if b != batch_no {
                                self.superseded
                                    .insert((key.to_string(), self.batch_objects[b].clone()));
                            }
                            *slot.get_mut() = (hash, b32, r32);
                        } else {
                            self.dropped[batch_no].push(row);
                        }
                    }
                }
            }
            let rows = |keep: &dyn Fn(usize) -> bool| -> Result<RecordBatch, SinkError> {
                let mask: BooleanArray = (0..events.num_rows()).map(|r| Some(keep(r))).collect();
                filter_record_batch(&events, &mask).map_err(aerr)
            };
            // The common case, an object without copies, is taken as it is.
            let facts_of = if first_seen.len() == events.num_rows() {
                events.clone()
            } else {
                let first: std::collections::HashSet<usize> = first_seen.into_iter().collect();
                rows(&|r| first.contains(&r))?
            };
            self.facts.extend(facts::from_events(&facts_of));
            drop(facts_of);
            let own = &self.dropped[batch_no];
            let to_write = if own.is_empty() {
                events.clone()
            } else {
                let lost: std::collections::HashSet<usize> = own.iter().copied().collect();
                rows(&|r| !lost.contains(&r))?
            };
            drop(events);
            if self.encoder.is_none() {
                self.encoder = Some(Encoder::start(lake)?);
            }
            if let Some(encoder) = self.encoder.as_mut() {
                encoder.send(split_by_date(to_write).map_err(aerr)?).await?;
            }
        }
        if rejects.num_rows() > 0 {
            self.rejects.push(rejects);
        }
        self.sources.push(source);
        Ok(())
    }

    /// The event batches with duplicates removed, and the per-source duplicate counts recorded.
    fn into_parts(mut self) -> (Vec<RecordBatch>, Vec<RecordBatch>, Vec<SourceEntry>) {
        let mut per_object: HashMap<&str, u64> = HashMap::new();
        let mut kept = Vec::with_capacity(self.events.len());
        for ((batch, dropped), object) in self
            .events
            .iter()
            .zip(&self.dropped)
            .zip(&self.batch_objects)
        {
            if dropped.is_empty() {
                kept.push(batch.clone());
                continue;
            }
            *per_object.entry(object.as_str()).or_default() += dropped.len() as u64;
            let mut mask = vec![true; batch.num_rows()];
            for r in dropped {
                mask[*r] = false;
            }
            // Infallible: the mask has the batch's length.
            kept.push(
                filter_record_batch(batch, &BooleanArray::from(mask))
                    .expect("mask has the batch's length"),
            );
        }
        for s in &mut self.sources {
            s.duplicates = per_object.get(s.uri.as_str()).copied().unwrap_or(0);
        }
        (kept, self.rejects, self.sources)
    }
}

/// Cut one object's rows by date: one part per date, in date order, each in the object's row
/// order. The common object, all of one date, is returned as it is (no copy).
fn split_by_date(batch: RecordBatch) -> Result<Vec<RecordBatch>, arrow::error::ArrowError> {
    if batch.num_rows() == 0 {
        return Ok(Vec::new());
    }
    let dates = batch
        .column_by_name("event_date")
        .and_then(|c| c.as_primitive_opt::<Date32Type>())
        .ok_or_else(|| arrow::error::ArrowError::SchemaError("event_date missing".into()))?
        .clone();
    let first = dates.value(0);
    if dates.values().iter().all(|d| *d == first) {
        return Ok(vec![batch]);
    }
    let mut days: Vec<i32> = dates.values().to_vec();
    days.sort_unstable();
    days.dedup();
    days.into_iter()
        .map(|day| {
            let mask: BooleanArray = dates.values().iter().map(|d| Some(*d == day)).collect();
            filter_record_batch(&batch, &mask)
        })
        .collect()
}

fn new_commit_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{now:013}-{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Date32Array, StringArray, TimestampMicrosecondArray};

    use super::*;

    fn batch(rows: &[(i32, i64, &str)]) -> RecordBatch {
        RecordBatch::try_from_iter(vec![
            (
                "event_date",
                Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
            ),
            (
                "event_time",
                Arc::new(TimestampMicrosecondArray::from_iter_values(
                    rows.iter().map(|r| r.1),
                )),
            ),
            (
                "id",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
            ),
        ])
        .unwrap()
    }

    #[test]
    fn an_object_is_cut_by_date_in_date_order_keeping_its_row_order() {
        // 20777 is 2026-11-20.
        let ids = |parts: Vec<RecordBatch>| -> Vec<Vec<String>> {
            parts
                .iter()
                .map(|p| {
                    let ids = p.column_by_name("id").unwrap().as_string::<i32>();
                    ids.iter().map(|v| v.unwrap().to_string()).collect()
                })
                .collect()
        };
        let a = batch(&[(20778, 30, "a1"), (20777, 10, "a2"), (20778, 5, "a3")]);
        assert_eq!(
            ids(split_by_date(a).unwrap()),
            vec![vec!["a2".to_string()], vec!["a1".into(), "a3".into()]]
        );
        let b = batch(&[(20777, 10, "b1"), (20777, 2, "b2")]);
        let whole = split_by_date(b.clone()).unwrap();
        assert_eq!(whole.len(), 1);
        assert_eq!(
            whole[0].column(2).to_data().buffers()[1].as_ptr(),
            b.column(2).to_data().buffers()[1].as_ptr(),
            "one date: the batch as it is"
        );
        assert!(split_by_date(batch(&[])).unwrap().is_empty());
    }
}
