//! The sink stage: the Parquet lake on a local file system.
//!
//! Layout (Hive-style, readable by other engines):
//! ```text
//! <lake>/events/date=YYYY-MM-DD/part-<commit>.parquet   accepted records, sorted by event_time
//! <lake>/rejects/part-<commit>.parquet                  records/objects that could not be read
//! <lake>/facts_*/part-<commit>.parquet                  what the commit's STS, MCP and sign-in
//!                                                       events said (`correlate::facts`)
//! <lake>/integrity/part-<commit>.parquet                digest checks
//! <lake>/_manifest/<commit>.json                        what each commit ingested and wrote
//! <lake>/_staging/<commit>/…                            files being written (never read)
//! <lake>/_lock                                          held (flock) by the one running ingest
//! ```
//!
//! A commit is written in this order: every Parquet file whole into `_staging/`, fsynced; each
//! renamed into place; then the manifest entry (temp file, fsync, rename, fsync of the folder).
//! Only files named by a manifest entry are part of the lake, so a reader never sees a partial
//! commit; a crash before the manifest rename leaves orphans that the next ingest deletes, and the
//! source objects of that commit, not being in the manifest, are read again. Killing the process
//! at any moment and re-running therefore yields the same rows as one uninterrupted run.
//!
//! Duplicates (same `eventID`) inside one commit are dropped here and counted; duplicates across
//! commits or runs are removed when the lake is queried (see `query`), which keeps ingest memory
//! flat whatever the lake's size.

pub mod lease;
pub mod manifest;
pub mod parquet;
pub mod remote;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};

use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::Date32Type;
use thiserror::Error;

use crate::correlate::facts;
use crate::schema::rejects_schema;
use manifest::{Commit, FileEntry, Manifest, SourceEntry};

/// Errors of the sink stage; each names the file at fault.
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
    /// Encoding a Parquet file failed.
    #[error("failed to write {path}: {message}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// A manifest entry cannot be read.
    #[error("manifest entry {path} is unreadable: {message}")]
    Manifest {
        /// The entry.
        path: String,
        /// Why.
        message: String,
    },
    /// Another ingest holds the lake.
    #[error("the lake {0} is locked by another running ingest")]
    Locked(String),
    /// Another run holds the S3 lake's lease.
    #[error(
        "the lake {lake} is held by run {holder} until {expires}; one run at a time writes an S3 lake"
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

/// The lake's small tables besides `events` and `rejects`, one folder each, written by commits:
/// the digest checks and the correlation facts.
pub const SMALL_TABLES: &[&str] = &[
    "integrity",
    facts::CREDENTIALS,
    facts::MCP_REQUESTS,
    facts::SIGNIN_GRANTS,
    facts::MCP_ANNOUNCED,
];

/// A lake: a local folder, or an S3 prefix mirrored into a local cache folder.
#[derive(Debug, Clone)]
pub struct Lake {
    root: PathBuf,
    remote: Option<remote::RemoteLake>,
}

/// Held while an ingest writes to the lake; released on drop or process death.
#[derive(Debug)]
pub struct LakeLock {
    _file: File,
}

impl Lake {
    /// Open (and create, if needed) the lake at `root`.
    pub fn create(root: &Path) -> Result<Lake, SinkError> {
        for sub in ["events", "rejects", "_manifest"] {
            let p = root.join(sub);
            std::fs::create_dir_all(&p).map_err(|e| SinkError::io(&p, e))?;
        }
        Ok(Lake {
            root: root.to_path_buf(),
            remote: None,
        })
    }

    /// Open an existing lake for reading; it may be empty.
    pub fn open(root: &Path) -> Lake {
        Lake {
            root: root.to_path_buf(),
            remote: None,
        }
    }

    /// A lake from a CLI argument: a folder, or `s3://bucket/prefix` mirrored under `cache`.
    pub async fn resolve(uri: &str, cache: &Path) -> Result<Lake, SinkError> {
        if uri.starts_with("s3://") {
            let (bucket, prefix) =
                crate::source::parse_s3_uri(uri).map_err(|e| SinkError::Write {
                    path: uri.to_string(),
                    message: e.to_string(),
                })?;
            let prefix = prefix.trim_end_matches('/').to_string();
            let root = cache.join("s3").join(&bucket).join(&prefix);
            let mut lake = Lake::create(&root)?;
            lake.remote = Some(remote::RemoteLake::new(
                crate::aws::s3_client().await,
                bucket,
                prefix,
            ));
            Ok(lake)
        } else {
            Lake::create(Path::new(uri))
        }
    }

    /// A small state file of the lake (`_publish_pending.json`, `_full_scan`, the key cache
    /// under `_integrity/`): the S3 object of an S3 lake (no mirror: a fresh machine must see
    /// it), else the local file. None when absent.
    pub async fn read_state(&self, name: &str) -> Result<Option<Vec<u8>>, SinkError> {
        match &self.remote {
            Some(remote) => remote.get_state(name).await,
            None => match std::fs::read(self.root.join(name)) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(SinkError::io(&self.root.join(name), e)),
            },
        }
    }

    /// Replace a small state file whole: one PUT on S3 (atomic), temp file and rename locally.
    pub async fn write_state(&self, name: &str, body: Vec<u8>) -> Result<(), SinkError> {
        if let Some(remote) = &self.remote {
            return remote.put_state(name, body).await;
        }
        let path = self.root.join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| SinkError::io(dir, e))?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, body).map_err(|e| SinkError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| SinkError::io(&path, e))
    }

    /// The S3 side of a mirrored lake.
    pub fn remote(&self) -> Option<&remote::RemoteLake> {
        self.remote.as_ref()
    }

    /// The lake's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Take the exclusive writer lock (advisory `flock`, released if the process dies).
    pub fn lock(&self) -> Result<LakeLock, SinkError> {
        let path = self.root.join("_lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| SinkError::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(LakeLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(SinkError::Locked(self.root.display().to_string()))
            }
            Err(std::fs::TryLockError::Error(e)) => Err(SinkError::io(&path, e)),
        }
    }

    /// Read the manifest.
    pub fn manifest(&self) -> Result<Manifest, SinkError> {
        Manifest::load(&self.root.join("_manifest"))
    }

    /// Delete what an interrupted run left: `_staging/` and Parquet files no commit names.
    /// Call only while holding the lock. Returns the number of files removed.
    pub fn collect_garbage(&self, manifest: &Manifest) -> Result<usize, SinkError> {
        let mut removed = 0;
        let staging = self.root.join("_staging");
        if staging.exists() {
            removed += count_files(&staging);
            std::fs::remove_dir_all(&staging).map_err(|e| SinkError::io(&staging, e))?;
        }
        let known: HashSet<PathBuf> = manifest
            .commits
            .iter()
            .flat_map(|c| c.files.iter())
            .map(|f| self.root.join(&f.path))
            .collect();
        for table in ["events", "rejects"].iter().chain(SMALL_TABLES) {
            for path in list_files(&self.root.join(table)) {
                if !known.contains(&path) {
                    tracing::info!(path = %path.display(), "Removing orphan file of an interrupted run.");
                    std::fs::remove_file(&path).map_err(|e| SinkError::io(&path, e))?;
                    removed += 1;
                }
            }
        }
        let mdir = self.root.join("_manifest");
        for path in list_files(&mdir) {
            if path.extension().is_some_and(|x| x == "tmp") {
                std::fs::remove_file(&path).map_err(|e| SinkError::io(&path, e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Write and commit `pending`. Blocking (CPU + disk): call it from a blocking thread.
    pub fn commit(&self, pending: PendingCommit) -> Result<Commit, SinkError> {
        let prepared = self.prepare(pending)?;
        self.finish(prepared)
    }

    /// First half of a commit: write every Parquet file whole into `_staging/<id>/` and render
    /// the manifest entry. Nothing is visible to readers yet.
    pub fn prepare(&self, mut pending: PendingCommit) -> Result<PreparedCommit, SinkError> {
        let id = new_commit_id();
        let aerr = |e: arrow::error::ArrowError| SinkError::Arrow {
            commit: id.clone(),
            message: e.to_string(),
        };
        let staging = self.root.join("_staging").join(&id);
        let mut files = Vec::new();
        let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();

        let event_rows = pending.event_rows;
        let mut tables = std::mem::take(&mut pending.tables);
        let (events, rejects, sources) = pending.into_parts();
        // The correlation facts these events state, stored beside them (see `correlate::facts`).
        let found = {
            use rayon::prelude::*;
            events
                .par_iter()
                .map(facts::from_events)
                .reduce(facts::Facts::default, |mut a, b| {
                    a.extend(b);
                    a
                })
        };
        tables.extend(found.to_batches().map_err(aerr)?);
        for table in SMALL_TABLES {
            let batches: Vec<RecordBatch> = tables
                .iter()
                .filter(|(t, _)| t == table)
                .map(|(_, b)| b.clone())
                .collect();
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            if rows == 0 {
                continue;
            }
            let rel = format!("{table}/part-{id}.parquet");
            let tmp = staging.join(&rel);
            let bytes = parquet::write_file(&tmp, &batches)?;
            files.push(FileEntry {
                table: (*table).into(),
                path: rel.clone(),
                date: None,
                rows: rows as u64,
                bytes,
            });
            staged.push((tmp, self.root.join(rel)));
        }
        if event_rows > 0 {
            for (date, batch) in split_by_date(events).map_err(aerr)? {
                let rel = format!("events/date={date}/part-{id}.parquet");
                let tmp = staging.join(&rel);
                let bytes = parquet::write_file(&tmp, std::slice::from_ref(&batch))?;
                files.push(FileEntry {
                    table: "events".into(),
                    path: rel.clone(),
                    date: Some(date),
                    rows: batch.num_rows() as u64,
                    bytes,
                });
                staged.push((tmp, self.root.join(rel)));
            }
        }
        let reject_rows: usize = rejects.iter().map(|b| b.num_rows()).sum();
        if reject_rows > 0 {
            let rel = format!("rejects/part-{id}.parquet");
            let tmp = staging.join(&rel);
            let all = concat_batches(&rejects_schema(), &rejects).map_err(aerr)?;
            let bytes = parquet::write_file(&tmp, std::slice::from_ref(&all))?;
            files.push(FileEntry {
                table: "rejects".into(),
                path: rel.clone(),
                date: None,
                rows: reject_rows as u64,
                bytes,
            });
            staged.push((tmp, self.root.join(rel)));
        }
        let commit = Commit {
            id: id.clone(),
            format: 1,
            sources,
            files,
        };
        let manifest_json =
            serde_json::to_vec_pretty(&commit).map_err(|e| SinkError::Manifest {
                path: format!("_manifest/{id}.json"),
                message: e.to_string(),
            })?;
        Ok(PreparedCommit {
            commit,
            manifest_json,
            staging,
            staged,
        })
    }

    /// Second half of a commit: move the staged files into place, then write the manifest entry
    /// (temp file, fsync, rename): from that instant the commit is part of the lake.
    pub fn finish(&self, prepared: PreparedCommit) -> Result<Commit, SinkError> {
        let PreparedCommit {
            commit,
            manifest_json: text,
            staging,
            staged,
        } = prepared;
        let id = commit.id.clone();
        for (from, to) in &staged {
            if let Some(dir) = to.parent() {
                std::fs::create_dir_all(dir).map_err(|e| SinkError::io(dir, e))?;
            }
            std::fs::rename(from, to).map_err(|e| SinkError::io(to, e))?;
            if let Some(dir) = to.parent() {
                sync_dir(dir)?;
            }
        }
        let mdir = self.root.join("_manifest");
        let tmp = mdir.join(format!("{id}.json.tmp"));
        let dst = mdir.join(format!("{id}.json"));
        {
            use std::io::Write;
            let mut f = File::create(&tmp).map_err(|e| SinkError::io(&tmp, e))?;
            f.write_all(&text).map_err(|e| SinkError::io(&tmp, e))?;
            f.sync_all().map_err(|e| SinkError::io(&tmp, e))?;
        }
        std::fs::rename(&tmp, &dst).map_err(|e| SinkError::io(&dst, e))?;
        sync_dir(&mdir)?;
        if staging.exists() {
            // Best effort: leftovers are removed by the next run's garbage collection.
            let _ = std::fs::remove_dir_all(&staging);
        }
        if let Some(parent) = staging.parent() {
            // Succeeds only when no other commit is staged; otherwise the next run's GC cleans up.
            let _ = std::fs::remove_dir(parent);
        }
        Ok(commit)
    }
}

/// A commit whose files are written in `_staging/` but not yet part of the lake.
pub struct PreparedCommit {
    /// The manifest entry.
    pub commit: Commit,
    /// Its JSON text.
    pub manifest_json: Vec<u8>,
    staging: PathBuf,
    /// (staged file, final path) pairs.
    staged: Vec<(PathBuf, PathBuf)>,
}

impl PreparedCommit {
    /// Staged files with their paths relative to the lake root.
    pub fn staged_files(&self) -> Vec<(PathBuf, String)> {
        self.commit
            .files
            .iter()
            .zip(&self.staged)
            .map(|(f, (tmp, _))| (tmp.clone(), f.path.clone()))
            .collect()
    }
}

/// Records and sources accumulated for the next commit.
///
/// Duplicates (same `dedup_key`) inside the commit are resolved as the query layer resolves them
/// across commits: the copy from the smallest `(source_object, source_index)` is kept, so the
/// stored rows do not depend on the order in which concurrent fetches completed.
#[derive(Default)]
pub struct PendingCommit {
    events: Vec<RecordBatch>,
    /// Source object of each batch in `events` (a batch holds one object's rows).
    batch_objects: Vec<String>,
    /// Rows of each batch dropped as duplicates.
    dropped: Vec<Vec<usize>>,
    rejects: Vec<RecordBatch>,
    sources: Vec<SourceEntry>,
    seen: HashMap<String, (usize, usize)>,
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

    /// Add one decoded object (all rows of `events` come from `source.uri`).
    pub fn add(&mut self, source: SourceEntry, events: RecordBatch, rejects: RecordBatch) {
        if events.num_rows() > 0 {
            let batch_no = self.events.len();
            self.dropped.push(Vec::new());
            self.batch_objects.push(source.uri.clone());
            let keys = events
                .column_by_name("dedup_key")
                .map(|c| c.as_string::<i32>().clone());
            for row in 0..events.num_rows() {
                let Some(key) = keys.as_ref().map(|k| k.value(row)) else {
                    break;
                };
                match self.seen.get(key).copied() {
                    None => {
                        self.seen.insert(key.to_string(), (batch_no, row));
                        self.event_rows += 1;
                    }
                    Some((b, r)) => {
                        self.duplicates += 1;
                        // Rows within a batch are in `source_index` order, so (object, row) orders
                        // copies as (source_object, source_index) does.
                        let new_first = (self.batch_objects[batch_no].as_str(), row)
                            < (self.batch_objects[b].as_str(), r);
                        if new_first {
                            self.dropped[b].push(r);
                            self.seen.insert(key.to_string(), (batch_no, row));
                        } else {
                            self.dropped[batch_no].push(row);
                        }
                    }
                }
            }
            self.events.push(events);
        }
        if rejects.num_rows() > 0 {
            self.rejects.push(rejects);
        }
        self.sources.push(source);
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

/// Sort the rows of `batches` by (event_date, event_time) and cut them into one batch per date.
///
/// The sorted rows are gathered straight from the input batches (no concatenated copy first),
/// and the inputs are dropped as soon as they are gathered: a commit holds at most two copies of
/// its rows. Ties keep arrival order, so the output does not depend on the sort algorithm.
fn split_by_date(
    batches: Vec<RecordBatch>,
) -> Result<Vec<(String, RecordBatch)>, arrow::error::ArrowError> {
    use arrow::datatypes::TimestampMicrosecondType;
    let missing = |c: &str| arrow::error::ArrowError::SchemaError(format!("{c} missing"));
    let mut keys: Vec<(i32, i64, usize, usize)> = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        let dates = batch
            .column_by_name("event_date")
            .and_then(|c| c.as_primitive_opt::<Date32Type>())
            .ok_or_else(|| missing("event_date"))?;
        let times = batch
            .column_by_name("event_time")
            .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
            .ok_or_else(|| missing("event_time"))?;
        keys.extend(
            dates
                .values()
                .iter()
                .zip(times.values().iter())
                .enumerate()
                .map(|(r, (d, t))| (*d, *t, b, r)),
        );
    }
    keys.sort_unstable();
    let indices: Vec<(usize, usize)> = keys.iter().map(|k| (k.2, k.3)).collect();
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    let sorted = arrow::compute::interleave_record_batch(&refs, &indices)?;
    drop(refs);
    drop(batches);
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=keys.len() {
        if i == keys.len() || keys[i].0 != keys[start].0 {
            let day = sorted
                .column_by_name("event_date")
                .and_then(|c| c.as_primitive_opt::<Date32Type>())
                .and_then(|d| d.value_as_date(start))
                .map(|d| d.to_string())
                .unwrap_or_default();
            out.push((day, sorted.slice(start, i - start)));
            start = i;
        }
    }
    Ok(out)
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

fn sync_dir(dir: &Path) -> Result<(), SinkError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| SinkError::io(dir, e))
}

fn list_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn count_files(dir: &Path) -> usize {
    list_files(dir).len()
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
    fn rows_of_several_batches_come_out_sorted_and_cut_by_date() {
        // 20777 is 2026-11-20.
        let a = batch(&[(20778, 30, "a1"), (20777, 10, "a2"), (20778, 5, "a3")]);
        let b = batch(&[(20777, 10, "b1"), (20778, 20, "b2"), (20777, 2, "b3")]);
        let out: Vec<(String, Vec<String>)> = split_by_date(vec![a, b])
            .unwrap()
            .into_iter()
            .map(|(day, b)| {
                let ids = b.column_by_name("id").unwrap().as_string::<i32>();
                (day, ids.iter().map(|v| v.unwrap().to_string()).collect())
            })
            .collect();
        let want = |day: &str, ids: &[&str]| {
            (
                day.to_string(),
                ids.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            out,
            vec![
                // Equal times keep arrival order (a2 came before b1).
                want("2026-11-20", &["b3", "a2", "b1"]),
                want("2026-11-21", &["a3", "b2", "a1"]),
            ]
        );
    }
}
