//! The lake's tables as Delta Lake tables, through delta-rs.
//!
//! Why Delta: the lake must be readable by the engines security teams already run (Athena, Trino,
//! Spark, DuckDB) and writable by several workers at once, on S3, without a lock service. A Delta
//! table is Parquet files plus a log of JSON commits (`_delta_log/<version>.json`); a file is part
//! of the table only once a commit names it, and a commit is one put-if-absent of the next log
//! entry (`If-None-Match: *` on S3), so two writers can never both take a version: the loser
//! re-reads what was committed meanwhile, checks it does not conflict, and tries the next version.
//!
//! This module owns where a table lives (a local folder or `s3://bucket/prefix/<table>`), the
//! storage options that point delta-rs at the same S3 endpoint and credentials as the rest of the
//! tool, and the two write operations the lake uses: an append and a keyed insert, each
//! retried on a commit conflict. Commits never delete expired log files: only `lake vacuum` does
//! (the ingest job's IAM policy has no `s3:DeleteObject`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::prelude::SessionContext;
use deltalake::kernel::Transaction;
use deltalake::kernel::scalars::ScalarExt;
use deltalake::kernel::transaction::{CommitProperties, TransactionError};
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use url::Url;

use super::SinkError;
use super::stored_keys::{StoredKeys, TableKeys};

/// Attempts of one write before a conflict is reported (each sees the newer table).
const MAX_ATTEMPTS: usize = 30;
/// Attempts of one write that keeps failing on storage errors (S3 unreachable, answers lost).
const MAX_IO_ATTEMPTS: usize = 6;

/// Where a lake lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local folder.
    Local(PathBuf),
    /// `s3://bucket/prefix`.
    S3 {
        /// Bucket.
        bucket: String,
        /// Key prefix without a trailing `/` (may be empty).
        prefix: String,
    },
}

impl Location {
    /// The URL of table `name` of the lake.
    pub fn table_url(&self, name: &str) -> Result<Url, SinkError> {
        match self {
            Location::Local(root) => {
                let abs =
                    std::path::absolute(root.join(name)).map_err(|e| SinkError::io(root, e))?;
                Url::from_directory_path(&abs).map_err(|()| SinkError::Write {
                    path: abs.display().to_string(),
                    message: "not an absolute path".into(),
                })
            }
            Location::S3 { bucket, prefix } => {
                let key = if prefix.is_empty() {
                    name.to_string()
                } else {
                    format!("{prefix}/{name}")
                };
                Url::parse(&format!("s3://{bucket}/{key}")).map_err(|e| SinkError::Write {
                    path: format!("s3://{bucket}/{key}"),
                    message: e.to_string(),
                })
            }
        }
    }

    /// How the lake is named in messages.
    pub fn describe(&self) -> String {
        match self {
            Location::Local(root) => root.display().to_string(),
            Location::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}"),
            Location::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }

    /// The local folder, for a local lake.
    pub fn local_root(&self) -> Option<&Path> {
        match self {
            Location::Local(root) => Some(root),
            Location::S3 { .. } => None,
        }
    }
}

/// The storage options that make delta-rs use the SDK's credential chain, region and endpoint
/// settings (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, path-style addressing as `aws` decides).
pub async fn s3_options() -> HashMap<String, String> {
    static REGISTER: std::sync::Once = std::sync::Once::new();
    REGISTER.call_once(|| deltalake::aws::register_handlers(None));
    let config = crate::aws::sdk_config().await;
    let mut options = HashMap::new();
    // Resolve credentials through the standard chain (profiles, SSO, web identity, the task role)
    // even when a custom endpoint is set, exactly as the SDK clients do.
    options.insert("AWS_FORCE_CREDENTIAL_LOAD".into(), "true".into());
    if let Some(region) = config.region() {
        options.insert("AWS_REGION".into(), region.to_string());
    }
    let endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()));
    if let Some(endpoint) = endpoint {
        if endpoint.starts_with("http://") {
            options.insert("AWS_ALLOW_HTTP".into(), "true".into());
        }
        options.insert("AWS_ENDPOINT_URL".into(), endpoint);
    }
    options.insert(
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST".into(),
        (!crate::aws::s3_path_style()).to_string(),
    );
    options
}

/// A table's error, naming the table.
///
/// delta-rs reports a failed upload of a new data file as "Failed to parse parquet: External:
/// …" (the Parquet writer's error wrapping the store's); it is said as what it is.
pub fn error(url: &Url, e: DeltaTableError) -> SinkError {
    let message = match &e {
        DeltaTableError::Parquet {
            source: parquet::errors::ParquetError::External(store),
        } => format!(
            "writing a data file: {}",
            crate::source::error_chain(store.as_ref())
        ),
        _ => crate::source::error_chain(&e),
    };
    SinkError::Delta {
        table: url.to_string(),
        message,
    }
}

/// Open the table at `url`; None when no table was ever committed there.
pub async fn open(
    url: &Url,
    options: &HashMap<String, String>,
) -> Result<Option<DeltaTable>, SinkError> {
    if let Some(path) = url.to_file_path().ok().filter(|_| url.scheme() == "file")
        && !path.join("_delta_log").exists()
    {
        return Ok(None);
    }
    let builder = DeltaTableBuilder::from_url(url.clone())
        .map_err(|e| error(url, e))?
        .with_storage_options(options.clone());
    match builder.load().await {
        Ok(t) => Ok(Some(t)),
        Err(DeltaTableError::NotATable(_)) => Ok(None),
        Err(e) => Err(error(url, e)),
    }
}

/// A handle on a table that may not exist yet (it is created by its first write).
async fn handle(url: &Url, options: &HashMap<String, String>) -> Result<DeltaTable, SinkError> {
    if let Ok(path) = url.to_file_path()
        && url.scheme() == "file"
    {
        std::fs::create_dir_all(&path).map_err(|e| SinkError::io(&path, e))?;
    }
    DeltaTable::try_from_url_with_storage_options(url.clone(), options.clone())
        .await
        .map_err(|e| error(url, e))
}

/// Commit properties of every write of ingest: no clean-up of expired log files (that needs
/// `s3:DeleteObject`, which only `lake vacuum` is given), and the commit id as app metadata.
fn commit_properties(commit_id: &str) -> CommitProperties {
    CommitProperties::default()
        .with_cleanup_expired_logs(Some(false))
        .with_metadata([(COMMIT.to_string(), serde_json::Value::from(commit_id))])
}

/// Table properties set when agenttrail creates a table: application transaction ids (one per
/// commit, see [`append`]) are needed only while a commit may be retried, so the log does not
/// keep them forever; and a checkpoint every 10 commits instead of delta-rs' 100, because every
/// commit loads its table again (the checkpoint, then each commit after it): ingest then took
/// 5–8% less CPU at 5M events (50 commits a table) and 13% less at 10M (BENCHMARKS.md, run S).
const TABLE_PROPERTIES: &[(&str, &str)] = &[
    ("delta.setTransactionRetentionDuration", "interval 7 days"),
    ("delta.checkpointInterval", "10"),
];

/// The application transaction that makes a commit recognisable on retry.
fn txn(app_id: &str) -> Transaction {
    Transaction::new_with_last_update(app_id, 1, Some(chrono::Utc::now().timestamp_millis()))
}

/// Whether `e` is a lost race that a fresh attempt can win.
fn is_conflict(e: &DeltaTableError) -> bool {
    matches!(
        e,
        DeltaTableError::VersionAlreadyExists(_)
            | DeltaTableError::Transaction {
                source: TransactionError::CommitConflict(_)
                    | TransactionError::MaxCommitAttempts(_)
                    | TransactionError::VersionAlreadyExists(_)
            }
    )
}

/// Whether `e` may be transient storage trouble (a reset connection, a lost answer): the write
/// is tried again on a freshly read table, which tells whether the lost attempt committed.
fn is_io(e: &DeltaTableError) -> bool {
    matches!(
        e,
        DeltaTableError::ObjectStore { .. }
            | DeltaTableError::Transaction {
                source: TransactionError::ObjectStore { .. }
                    | TransactionError::LogStoreError { .. }
            }
    )
}

/// Whether another attempt is worth it after `e`, the `attempt`-th failure (from 0).
fn retry(e: &DeltaTableError, attempt: usize) -> bool {
    ((is_conflict(e) || already_exists(e)) && attempt + 1 < MAX_ATTEMPTS)
        || (is_io(e) && attempt + 1 < MAX_IO_ATTEMPTS)
}

/// Wait a little before the next attempt, more after each conflict, with jitter so that racing
/// writers spread out.
async fn back_off(attempt: usize) {
    let jitter = u64::from(std::process::id() % 50) + (attempt as u64 * 37) % 50;
    let ms = (20u64 << attempt.min(6)) + jitter;
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Append `batches` to the table (created, partitioned by `partition`, if absent), exactly once.
///
/// The commit carries an application transaction (`txn`) named after `commit_id`. If the answer
/// to the log PUT is lost after S3 applied it, the retried PUT finds the version taken, and the
/// conflict check sees our own app id in the winning commit (`ConcurrentTransaction`) instead of
/// appending the rows a second time; the loop below then finds the app id in the table and stops.
pub async fn append(
    url: &Url,
    options: &HashMap<String, String>,
    batches: Vec<RecordBatch>,
    partition: Option<&str>,
    commit_id: &str,
) -> Result<(), SinkError> {
    if batches.iter().all(|b| b.num_rows() == 0) {
        return Ok(());
    }
    let app_id = format!("agenttrail-{commit_id}");
    let mut attempt = 0;
    loop {
        let table = handle(url, options).await?;
        if attempt > 0 && committed(&table, &app_id).await? {
            return Ok(());
        }
        let result = async {
            // No table yet: create it empty (see `create`), then append as to any table.
            let table = if table.version().is_none() {
                create(table, &batches[0].schema(), partition).await?
            } else {
                table
            };
            let mut write = table
                .write(batches.clone())
                .with_save_mode(SaveMode::Append)
                .with_writer_properties(super::parquet::writer_properties())
                .with_commit_properties(
                    commit_properties(commit_id).with_application_transaction(txn(&app_id)),
                );
            if let Some(p) = partition {
                write = write.with_partition_columns([p]);
            }
            write.await.map(|_| ())
        }
        .await;
        match result {
            Ok(()) => return Ok(()),
            Err(e) if retry(&e, attempt) => {
                tracing::debug!(table = %url, attempt, error = %e, "Commit failed; trying again.");
                attempt += 1;
                back_off(attempt).await;
            }
            Err(e) => return Err(error(url, e)),
        }
    }
}

/// Whether a commit with application transaction `app_id` is in the table.
async fn committed(table: &DeltaTable, app_id: &str) -> Result<bool, SinkError> {
    let Ok(state) = table.snapshot() else {
        return Ok(false);
    };
    state
        .transaction_version(table.log_store().as_ref(), app_id)
        .await
        .map(|v| v.is_some())
        .map_err(|e| error(table.table_url(), e))
}

/// Insert the rows of `batches` whose key (`key` columns) is not in the table yet, exactly once,
/// and return how many were inserted.
///
/// Why not a MERGE: delta-rs' MERGE full-joins the batch with every column of every row of the
/// partitions it touches, so a day of a million events was read whole again by each commit of that
/// day. Instead the keys already stored in the batch's partitions are streamed (one narrow column,
/// partition-pruned, matched against the batch's own keys, so memory follows the batch), the
/// batch's new rows are written, and the commit states what it read: a Delta `WRITE` whose read
/// predicate is `<partition> IN (<the batch's values>)`. A writer that appended to one of those
/// partitions after we read them makes the commit fail its conflict check (`ConcurrentAppend`),
/// and the whole step runs again on the newer table, so two workers never both insert an event.
///
/// Like [`append`], the commit carries an application transaction: after a lost answer, the next
/// attempt finds its own commit and reads its inserted count from the commit's metadata.
pub async fn insert_new(
    url: &Url,
    options: &HashMap<String, String>,
    batches: Vec<RecordBatch>,
    partition: Option<&str>,
    key: &[&str],
    commit_id: &str,
    stored: Option<&std::sync::Mutex<StoredKeys>>,
) -> Result<u64, SinkError> {
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    if rows == 0 {
        return Ok(0);
    }
    let schema = batches[0].schema();
    let rows = Insert::Batches(batches);
    keyed_insert(
        url, options, rows, &schema, partition, key, commit_id, stored,
    )
    .await
}

/// The rows of a keyed insert: in memory ([`insert_new`]), or in files written already
/// ([`insert_written`]).
enum Insert<'a> {
    Batches(Vec<RecordBatch>),
    Files(Files<'a>),
}

/// A keyed insert's rows in files written already.
struct Files<'a> {
    adds: Vec<deltalake::kernel::Add>,
    /// The key and partition columns of the rows to insert.
    keys: Vec<RecordBatch>,
    superseded: &'a Keep<'a>,
    /// Whether the files hold rows `superseded` drops (none after a rewrite).
    replaced: bool,
}

/// Which rows of a batch to keep.
type Keep<'a> =
    dyn Fn(&RecordBatch) -> Result<arrow::array::BooleanArray, DeltaTableError> + Sync + 'a;

/// The loop of [`insert_new`] and [`insert_written`]: one attempt after another, each on the
/// table as it is then, until one commits or fails for good.
#[allow(clippy::too_many_arguments)]
async fn keyed_insert(
    url: &Url,
    options: &HashMap<String, String>,
    mut rows: Insert<'_>,
    schema: &arrow::datatypes::SchemaRef,
    partition: Option<&str>,
    key: &[&str],
    commit_id: &str,
    stored: Option<&std::sync::Mutex<StoredKeys>>,
) -> Result<u64, SinkError> {
    let app_id = format!("agenttrail-{commit_id}");
    let properties = |inserted: u64| insert_properties(commit_id, &app_id, inserted);
    let mut attempt = 0;
    loop {
        let table = handle(url, options).await?;
        if attempt > 0 && committed(&table, &app_id).await? {
            return inserted_by(&table, commit_id).await;
        }
        let result = async {
            // No table yet: create it empty, then insert as into any table. A racing creator
            // makes this a conflict, and the next attempt inserts into the table it made.
            let created = table.version().is_none();
            let table = if created {
                create(table, schema, partition).await?
            } else {
                table
            };
            let version = table.version().unwrap_or_default();
            let mut known = stored.map(|s| lock(s).take(url.as_str(), version));
            let (inserted, version) = insert_attempt(
                &table,
                created,
                &mut rows,
                partition,
                key,
                &properties,
                known.as_mut(),
            )
            .await?;
            if let (Some(stored), Some(mut known)) = (stored, known) {
                known.version = version;
                lock(stored).put(url.as_str(), known);
            }
            Ok::<_, DeltaTableError>(inserted)
        }
        .await;
        match result {
            Ok(n) => return Ok(n),
            Err(e) if retry(&e, attempt) => {
                tracing::debug!(table = %url, attempt, error = %e, "Commit failed; inserting again.");
                attempt += 1;
                back_off(attempt).await;
            }
            Err(e) => return Err(error(url, e)),
        }
    }
}

/// Rows of a keyed insert written to new files of a table as they come, before the insert
/// checks which of them the table holds already ([`insert_written`]).
///
/// Why: a commit of 100,000 events held as Arrow batches until its insert is about 160 MB, and
/// ingest held two (the one being written and the next one filling). Encoded as they arrive,
/// a commit is its Parquet pages, about a tenth of that, and the encoding runs beside the
/// decoding of the next objects instead of after it.
pub struct Written {
    writer: deltalake::writer::RecordBatchWriter,
    schema: arrow::datatypes::SchemaRef,
    partition: Option<String>,
    rows: usize,
}

impl Written {
    /// New files of the table at `url`, with `schema`'s columns, partitioned by `partition`.
    pub fn new(
        url: &Url,
        options: &HashMap<String, String>,
        schema: arrow::datatypes::SchemaRef,
        partition: Option<&str>,
    ) -> Result<Written, SinkError> {
        if let Ok(path) = url.to_file_path()
            && url.scheme() == "file"
        {
            std::fs::create_dir_all(&path).map_err(|e| SinkError::io(&path, e))?;
        }
        let writer = deltalake::writer::RecordBatchWriter::try_new(
            url.as_str(),
            schema.clone(),
            partition.map(|p| vec![p.to_string()]),
            Some(options.clone()),
        )
        .map_err(|e| error(url, e))?
        .with_writer_properties(super::parquet::writer_properties());
        Ok(Written {
            writer,
            schema,
            partition: partition.map(str::to_string),
            rows: 0,
        })
    }

    /// Encode `batches` (each of one partition, or any mix) into the files.
    pub async fn write(&mut self, batches: Vec<RecordBatch>) -> Result<(), DeltaTableError> {
        self.rows += batches.iter().map(|b| b.num_rows()).sum::<usize>();
        write_batches(&mut self.writer, batches, self.partition.as_deref()).await
    }
}

/// Insert the rows of `written` whose key is not in the table yet, exactly once, and return how
/// many were inserted: [`insert_new`] for rows already encoded.
///
/// `keys` holds the key and partition columns of every row written but those `superseded`
/// says were replaced by a later copy in the same commit. When no row of the files is stored
/// already or superseded (the common case), the files are committed as they were written; else
/// they are read back, the rows to drop left out, and written again (the first files are then
/// in no table version, and `lake vacuum` deletes them). The same conflict checks and retries
/// as [`insert_new`] apply; a retry checks the same files again on the newer table.
#[allow(clippy::too_many_arguments)]
pub async fn insert_written(
    url: &Url,
    options: &HashMap<String, String>,
    written: Written,
    keys: Vec<RecordBatch>,
    superseded: &Keep<'_>,
    key: &[&str],
    commit_id: &str,
    stored: Option<&std::sync::Mutex<StoredKeys>>,
) -> Result<u64, SinkError> {
    let Written {
        mut writer,
        schema,
        partition,
        rows,
    } = written;
    let adds = deltalake::writer::DeltaWriter::flush(&mut writer)
        .await
        .map_err(|e| error(url, e))?;
    if rows == 0 {
        return Ok(0);
    }
    // Rows of the files that are not in `keys`: replaced in the commit by a later copy.
    let replaced = keys.iter().map(|b| b.num_rows()).sum::<usize>() < rows;
    let files = Insert::Files(Files {
        adds,
        keys,
        superseded,
        replaced,
    });
    let partition = partition.as_deref();
    keyed_insert(
        url, options, files, &schema, partition, key, commit_id, stored,
    )
    .await
}

/// Which rows of `batch` have a key in `keys`.
fn key_in(
    batch: &RecordBatch,
    key: &[&str],
    keys: &hashbrown::HashSet<String>,
) -> Result<arrow::array::BooleanArray, DeltaTableError> {
    let mut hit = vec![false; batch.num_rows()];
    for_each_key(batch, key, |r, k| hit[r] = keys.contains(k))?;
    Ok(arrow::array::BooleanArray::from(hit))
}

/// Write the rows of the files `adds` that `keep` keeps into new files of `table`, and return
/// those files (none for a file whose rows are all dropped).
async fn rewrite(
    table: &DeltaTable,
    adds: &[deltalake::kernel::Add],
    partition: Option<&str>,
    keep: &Keep<'_>,
) -> Result<Vec<deltalake::kernel::Add>, DeltaTableError> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use deltalake::logstore::object_store::ObjectStoreExt;

    let store = table.log_store().object_store(None);
    let schema = table.snapshot()?.snapshot().arrow_schema();
    let mut writer = writer_for(table)?;
    for add in adds {
        let bytes = store
            .get(&deltalake::Path::from(add.path.as_str()))
            .await?
            .bytes()
            .await?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
        for batch in reader {
            let batch = batch?;
            // The partition column is in the file's path, not in the file: put it back (at the
            // end; the writer takes columns by name).
            let batch = match partition {
                Some(p) => {
                    let value = add.partition_values.get(p).cloned().flatten();
                    let field = schema.field_with_name(p)?.clone();
                    let column = arrow::compute::cast(
                        &arrow::array::StringArray::from(vec![value; batch.num_rows()]),
                        field.data_type(),
                    )?;
                    let mut fields: Vec<_> = batch.schema().fields().iter().cloned().collect();
                    fields.push(Arc::new(field));
                    let mut columns = batch.columns().to_vec();
                    columns.push(column);
                    RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns)?
                }
                None => batch,
            };
            let mask = keep(&batch)?;
            let batch = arrow::compute::filter_record_batch(&batch, &mask)?;
            if batch.num_rows() > 0 {
                write_batches(&mut writer, vec![batch], partition).await?;
            }
        }
    }
    deltalake::writer::DeltaWriter::flush(&mut writer).await
}

/// Commit properties of a keyed insert: those of every write, the rows it inserted as app
/// metadata (read back after a lost answer, see [`inserted_by`]), and its application
/// transaction.
fn insert_properties(commit_id: &str, app_id: &str, inserted: u64) -> CommitProperties {
    CommitProperties::default()
        .with_cleanup_expired_logs(Some(false))
        .with_metadata([
            (COMMIT.to_string(), serde_json::Value::from(commit_id)),
            (INSERTED.to_string(), serde_json::Value::from(inserted)),
        ])
        .with_application_transaction(txn(app_id))
}

/// Create the table at `table`'s location, empty, with `schema`'s columns (partitioned by
/// `partition`) and [`TABLE_PROPERTIES`], and return it at that version. Every table is created
/// so, by its first write.
///
/// Why empty: a table's first rows then take the path of every later commit ([`insert_written`]
/// for events, written in the order they came); delta-rs' own creating write runs a plan that
/// reads its batches in several streams at once, which lost that order unless each day's batches
/// were first copied into one (141 MB for a million-event day, the peak heap of a fresh lake's
/// ingest in BENCHMARKS.md's run O).
///
/// Why not retried by delta-rs: delta-rs (1.1.1) commits a create that lost version 0 at the
/// next version without a conflict check (it reloads the table at its latest version, so
/// nothing lies between), which replaces the table's metadata. With no retries the lost create
/// fails instead (`MaxCommitAttempts`, or "already exists"), and the caller's loop writes again
/// on the table the winner made, where the conflict checks apply.
async fn create(
    table: DeltaTable,
    schema: &arrow::datatypes::SchemaRef,
    partition: Option<&str>,
) -> Result<DeltaTable, DeltaTableError> {
    use deltalake::kernel::StructType;
    use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;

    let columns: StructType = schema.as_ref().try_into_kernel()?;
    let mut create = table
        .create()
        .with_columns(columns.fields().cloned())
        .with_configuration(TABLE_PROPERTIES.iter().map(|(k, v)| (*k, Some(*v))))
        .with_save_mode(SaveMode::ErrorIfExists)
        .with_commit_properties(
            CommitProperties::default()
                .with_cleanup_expired_logs(Some(false))
                .with_max_retries(0),
        );
    if let Some(p) = partition {
        create = create.with_partition_columns([p]);
    }
    create.await
}

/// Whether every row of `batch` has the same, non-null value in column `partition`.
fn one_partition(batch: &RecordBatch, partition: &str) -> bool {
    let Some(column) = batch.column_by_name(partition) else {
        return false;
    };
    if column.is_empty() || column.null_count() > 0 {
        return false;
    }
    let first = arrow::array::Scalar::new(column.slice(0, 1));
    arrow::compute::kernels::cmp::eq(column, &first)
        .is_ok_and(|same| same.true_count() == column.len())
}

/// The app-metadata key of the rows a keyed insert added.
const INSERTED: &str = "agenttrail.inserted";
/// The app-metadata key of the agenttrail commit a Delta commit belongs to.
const COMMIT: &str = "agenttrail.commit";

/// One attempt of a keyed insert ([`insert_new`], [`insert_written`]) on an existing table:
/// the rows inserted and the table's version after the attempt.
///
/// The stored keys of a partition are read only when `known` does not rule every key of the
/// rows out there (see `stored_keys`), and never when the table is `empty` (created by this
/// attempt); what is read, and what is inserted, is added to `known`. Rows in memory are written
/// without those stored already; files written already are committed as they are unless a row is
/// stored already or `superseded`, and then written again without those rows (and stay so for
/// later attempts).
async fn insert_attempt(
    table: &DeltaTable,
    empty: bool,
    rows: &mut Insert<'_>,
    partition: Option<&str>,
    key: &[&str],
    properties: &(dyn Fn(u64) -> CommitProperties + Sync),
    mut known: Option<&mut TableKeys>,
) -> Result<(u64, deltalake::kernel::Version), DeltaTableError> {
    let version = table.version().unwrap_or_default();
    let keys = match rows {
        Insert::Batches(batches) => &batches[..],
        Insert::Files(files) => &files.keys[..],
    };
    let (row_keys, found) =
        stored_among(table, empty, keys, partition, key, known.as_deref_mut()).await?;
    let inserted = row_keys.missing(&found);
    if inserted == 0 {
        return Ok((0, version));
    }
    let adds = match rows {
        Insert::Batches(batches) => {
            let mut kept = Vec::with_capacity(batches.len());
            for (b, keys) in batches.iter().zip(&row_keys.keys) {
                let mask: arrow::array::BooleanArray = keys
                    .iter()
                    .map(|k| Some(k.as_ref().is_none_or(|k| !found.contains(k))))
                    .collect();
                let b = arrow::compute::filter_record_batch(b, &mask)?;
                if b.num_rows() > 0 {
                    kept.push(b);
                }
            }
            let mut writer = writer_for(table)?;
            write_batches(&mut writer, kept, partition).await?;
            deltalake::writer::DeltaWriter::flush(&mut writer).await?
        }
        Insert::Files(files) => {
            if !found.is_empty() || files.replaced {
                let superseded = files.superseded;
                files.adds = rewrite(table, &files.adds, partition, &|b| {
                    let mut keep = superseded(b)?;
                    if !found.is_empty() {
                        let stored = key_in(b, key, &found)?;
                        keep = arrow::compute::and(&keep, &arrow::compute::not(&stored)?)?;
                    }
                    Ok(keep)
                })
                .await?;
                files.replaced = false;
            }
            files.adds.clone()
        }
    };
    let committed = commit_adds(
        table,
        adds,
        &row_keys,
        &found,
        partition,
        properties(inserted as u64),
        known,
    )
    .await?;
    Ok((inserted as u64, committed))
}

/// Read which keys of `batches` are stored in the table already (in the partitions the batches
/// touch), with the keys and partitions of the batches' rows. See [`insert_attempt`] for when
/// stored keys are read at all.
async fn stored_among(
    table: &DeltaTable,
    empty: bool,
    batches: &[RecordBatch],
    partition: Option<&str>,
    key: &[&str],
    mut known: Option<&mut TableKeys>,
) -> Result<(RowKeys, hashbrown::HashSet<String>), DeltaTableError> {
    use datafusion::prelude::{col, lit};
    use futures::StreamExt;

    let rows = RowKeys::of(batches, partition, key, known.as_deref())?;
    // (foldhash: these sets take every key of the commit and every stored key it reads.)
    let wanted: hashbrown::HashSet<&str> = rows.keys().collect();
    // The partitions whose stored keys must be read: those not known, and those where a key of
    // the batch may be stored.
    let scan: std::collections::BTreeSet<&str> = match known.as_deref_mut() {
        Some(k) if empty => {
            for part in rows.scope() {
                k.learn(part, []);
            }
            Default::default()
        }
        Some(k) => rows.maybe_stored(k),
        None if empty => Default::default(),
        None => rows.scope().collect(),
    };
    let mut found: hashbrown::HashSet<String> = hashbrown::HashSet::new();
    if !scan.is_empty() {
        let ctx = SessionContext::new();
        let provider = table
            .table_provider()
            .with_session(Arc::new(ctx.state()))
            .await?;
        let mut df = ctx.read_table(provider)?;
        let mut columns = key.to_vec();
        if let Some(p) = partition {
            let data_type = table_type(table, p)?;
            let list = scan
                .iter()
                .map(|v| datafusion::prelude::cast(lit(*v), data_type.clone()))
                .collect();
            df = df.filter(col(p).in_list(list, false))?;
            columns.push(p);
        }
        if let Some(k) = known.as_deref_mut() {
            for part in &scan {
                k.reading(part);
            }
        }
        let mut stream = df.select_columns(&columns)?.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let parts = partition.map(|p| partition_text(&batch, p)).transpose()?;
            for_each_key(&batch, key, |r, k| {
                if wanted.contains(k) && !found.contains(k) {
                    found.insert(k.to_string());
                }
                if let Some(known) = known.as_deref_mut() {
                    let part = parts.as_ref().map_or(Some(""), |p| p.at(r));
                    if let Some(part) = part {
                        let h = known.hash(k);
                        known.stored(part, h);
                    }
                }
            })?;
        }
    }
    // (`wanted` borrows `rows`.)
    drop(wanted);
    Ok((rows, found))
}

/// A writer of new files of `table`, with the lake's writer properties.
fn writer_for(table: &DeltaTable) -> Result<deltalake::writer::RecordBatchWriter, DeltaTableError> {
    Ok(deltalake::writer::RecordBatchWriter::for_table(table)?
        .with_writer_properties(super::parquet::writer_properties()))
}

/// Write `batches` into `writer`'s files (not flushed).
async fn write_batches(
    writer: &mut deltalake::writer::RecordBatchWriter,
    batches: Vec<RecordBatch>,
    partition: Option<&str>,
) -> Result<(), DeltaTableError> {
    for b in batches {
        // A batch of one partition (the events of one day, as `sink::split_by_date` cuts them) goes
        // to that partition's file as it is: the generic path would copy every column of it
        // again to group its rows by partition value.
        let value = partition
            .filter(|p| one_partition(&b, p))
            .and_then(|p| Some((p, ScalarExt::from_array(b.column_by_name(p)?.as_ref(), 0)?)));
        match value {
            Some((p, value)) => {
                let values = indexmap::IndexMap::from([(p.to_string(), value)]);
                writer
                    .write_partition(b, &values, deltalake::writer::WriteMode::Default)
                    .await?;
            }
            None => deltalake::writer::DeltaWriter::write(writer, b).await?,
        }
    }
    Ok(())
}

/// Commit `adds` (the new files of a keyed insert of `rows`, of which `found` were stored
/// already) as a `WRITE` that read the partitions of `rows`, and record in `known` what the
/// table now holds; the table's version after the commit.
async fn commit_adds(
    table: &DeltaTable,
    adds: Vec<deltalake::kernel::Add>,
    rows: &RowKeys,
    found: &hashbrown::HashSet<String>,
    partition: Option<&str>,
    properties: CommitProperties,
    known: Option<&mut TableKeys>,
) -> Result<deltalake::kernel::Version, DeltaTableError> {
    let version = table.version().unwrap_or_default();
    let predicate = match partition {
        Some(p) => format!(
            "{p} IN ({})",
            rows.scope()
                .map(|v| format!("'{}'", v.replace('\'', "''")))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => "true".to_string(),
    };
    let operation = deltalake::protocol::DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: partition.map(|p| vec![p.to_string()]),
        predicate: Some(predicate),
    };
    let snapshot = table.snapshot()?;
    let committed = deltalake::kernel::transaction::CommitBuilder::from(properties)
        .with_actions(
            adds.into_iter()
                .map(deltalake::kernel::Action::Add)
                .collect(),
        )
        .build(Some(snapshot), table.log_store(), operation)
        .await?;
    if let Some(known) = known {
        if committed.version() == version + 1 {
            rows.each_stored(known, |k| !found.contains(k));
        } else {
            // delta-rs committed at a later version after other writers' commits that did not
            // conflict (they touched other partitions): what is known of those is stale.
            known.forget();
        }
    }
    Ok(committed.version())
}

/// The Arrow type of column `name` of the table.
fn table_type(
    table: &DeltaTable,
    name: &str,
) -> Result<arrow::datatypes::DataType, DeltaTableError> {
    let schema = table.snapshot()?.snapshot().arrow_schema();
    Ok(schema.field_with_name(name)?.data_type().clone())
}

/// The `key` columns of `batch` as text.
fn key_columns(batch: &RecordBatch, key: &[&str]) -> Result<Vec<ArrayRef>, DeltaTableError> {
    key.iter()
        .map(|k| {
            let c = batch
                .column_by_name(k)
                .ok_or_else(|| DeltaTableError::Generic(format!("key column {k} missing")))?;
            Ok(arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8)?)
        })
        .collect()
}

/// Write row `r`'s key into `out`: its columns joined by a unit separator; false when all are
/// null (the row has no key).
fn write_key(cols: &[&arrow::array::StringArray], r: usize, out: &mut String) -> bool {
    out.clear();
    if cols.iter().all(|c| c.is_null(r)) {
        return false;
    }
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            out.push('\u{1f}');
        }
        if c.is_valid(r) {
            out.push_str(c.value(r));
        }
    }
    true
}

/// Each row's key (see [`write_key`]; None when it has none).
fn row_keys(batch: &RecordBatch, key: &[&str]) -> Result<Vec<Option<String>>, DeltaTableError> {
    let cols = key_columns(batch, key)?;
    let cols: Vec<&arrow::array::StringArray> = cols.iter().map(|c| c.as_string::<i32>()).collect();
    Ok((0..batch.num_rows())
        .map(|r| {
            let mut k = String::new();
            write_key(&cols, r, &mut k).then_some(k)
        })
        .collect())
}

/// Call `f` with the row and key of every row of `batch` that has one (as [`row_keys`] builds
/// it), without a copy per row: the key scan of a commit reads every key stored on its dates.
fn for_each_key(
    batch: &RecordBatch,
    key: &[&str],
    mut f: impl FnMut(usize, &str),
) -> Result<(), DeltaTableError> {
    let cols = key_columns(batch, key)?;
    let cols: Vec<&arrow::array::StringArray> = cols.iter().map(|c| c.as_string::<i32>()).collect();
    if let [one] = cols.as_slice() {
        one.iter()
            .enumerate()
            .for_each(|(r, k)| k.into_iter().for_each(|k| f(r, k)));
        return Ok(());
    }
    let mut k = String::new();
    for r in 0..batch.num_rows() {
        if write_key(&cols, r, &mut k) {
            f(r, &k);
        }
    }
    Ok(())
}

/// A batch's partition values as text (the form of the scan's predicate and of `stored_keys`).
enum PartitionText {
    /// Every row has this value (None: null).
    One(Option<String>),
    /// Row by row.
    Rows(arrow::array::StringArray),
}

impl PartitionText {
    /// Row `r`'s value; None when null.
    fn at(&self, r: usize) -> Option<&str> {
        match self {
            PartitionText::One(v) => v.as_deref(),
            PartitionText::Rows(a) => a.is_valid(r).then(|| a.value(r)),
        }
    }
}

/// Column `partition` of `batch` as text (formatted once when the batch is one partition).
fn partition_text(batch: &RecordBatch, partition: &str) -> Result<PartitionText, DeltaTableError> {
    let c = batch
        .column_by_name(partition)
        .ok_or_else(|| DeltaTableError::Generic(format!("{partition} missing")))?;
    let text = |c: &dyn Array| -> Result<arrow::array::StringArray, DeltaTableError> {
        Ok(arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8)?
            .as_string::<i32>()
            .clone())
    };
    if one_partition(batch, partition) {
        let first = text(c.slice(0, 1).as_ref())?;
        return Ok(PartitionText::One(Some(first.value(0).to_string())));
    }
    Ok(PartitionText::Rows(text(c.as_ref())?))
}

/// The key and partition of each row of a keyed insert's batches.
struct RowKeys {
    /// Per batch, each row's key (None: the row has none, and is always inserted).
    keys: Vec<Vec<Option<String>>>,
    /// Per batch, its partition values (None: the table is not partitioned).
    parts: Vec<Option<PartitionText>>,
    /// Per batch, each row's key hash (`stored_keys`; empty without them).
    hashes: Vec<Vec<u64>>,
    /// The partition values the batches touch: the scope of the key scan and of the commit's
    /// read predicate (`""` alone when the table is not partitioned).
    scope: std::collections::BTreeSet<String>,
}

impl RowKeys {
    /// Read the keys and partitions of `batches`, and hash the keys when `known` is given.
    fn of(
        batches: &[RecordBatch],
        partition: Option<&str>,
        key: &[&str],
        known: Option<&TableKeys>,
    ) -> Result<RowKeys, DeltaTableError> {
        let mut out = RowKeys {
            keys: Vec::with_capacity(batches.len()),
            parts: Vec::with_capacity(batches.len()),
            hashes: Vec::with_capacity(batches.len()),
            scope: Default::default(),
        };
        for b in batches {
            let keys = row_keys(b, key)?;
            let parts = partition.map(|p| partition_text(b, p)).transpose()?;
            match &parts {
                Some(PartitionText::One(v)) => out.scope.extend(v.clone()),
                Some(PartitionText::Rows(a)) => {
                    out.scope.extend(a.iter().flatten().map(str::to_string));
                }
                None => {
                    out.scope.insert(String::new());
                }
            }
            if let Some(known) = known {
                out.hashes.push(
                    keys.iter()
                        .map(|k| k.as_deref().map_or(0, |k| known.hash(k)))
                        .collect(),
                );
            }
            out.keys.push(keys);
            out.parts.push(parts);
        }
        Ok(out)
    }

    /// Every key of the batches.
    fn keys(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().flatten().filter_map(|k| k.as_deref())
    }

    /// How many rows have no key, or a key not in `stored`: the rows an insert adds.
    fn missing(&self, stored: &hashbrown::HashSet<String>) -> usize {
        self.keys
            .iter()
            .flatten()
            .filter(|k| k.as_ref().is_none_or(|k| !stored.contains(k)))
            .count()
    }

    /// The partition values touched.
    fn scope(&self) -> impl Iterator<Item = &str> {
        self.scope.iter().map(String::as_str)
    }

    /// Row `r` of batch `b`: its partition value (None: null, never matched by the scan) and key.
    fn row(&self, b: usize, r: usize) -> (Option<&str>, Option<&str>) {
        let part = self.parts[b].as_ref().map_or(Some(""), |p| p.at(r));
        (part, self.keys[b][r].as_deref())
    }

    /// The partitions whose stored keys must be read: those `known` does not know, and those
    /// where it may hold a key of the batches. A key counts as stored when any partition of the
    /// scope holds it (as the scan without `known` finds it), so each key is checked against
    /// every known partition of the scope; past [`MAX_CHECKED_PARTITIONS`] the whole scope is
    /// read, as without `known`.
    fn maybe_stored(&self, known: &TableKeys) -> std::collections::BTreeSet<&str> {
        let mut scan: std::collections::BTreeSet<&str> =
            self.scope().filter(|p| !known.knows(p)).collect();
        let checked: Vec<&str> = self.scope().filter(|p| known.knows(p)).collect();
        if checked.len() > MAX_CHECKED_PARTITIONS {
            return self.scope().collect();
        }
        for (b, keys) in self.keys.iter().enumerate() {
            for (r, k) in keys.iter().enumerate() {
                if k.is_none() {
                    continue;
                }
                for part in &checked {
                    if !scan.contains(part) && known.may_hold(part, self.hashes[b][r]) {
                        scan.insert(part);
                    }
                }
            }
            if scan.len() == self.scope.len() {
                break;
            }
        }
        scan
    }

    /// Record in `known` the keys of the rows for which `stored` says yes.
    fn each_stored(&self, known: &mut TableKeys, stored: impl Fn(&str) -> bool) {
        for part in self.scope() {
            known.touch(part);
        }
        for (b, keys) in self.keys.iter().enumerate() {
            for r in 0..keys.len() {
                if let (Some(part), Some(k)) = self.row(b, r)
                    && stored(k)
                {
                    known.stored(part, self.hashes[b][r]);
                }
            }
        }
    }
}

/// Known partitions a commit checks its keys against before it reads the whole scope again.
const MAX_CHECKED_PARTITIONS: usize = 16;

/// The lock of the stored keys (a panic while holding it left them complete or dropped).
fn lock(stored: &std::sync::Mutex<StoredKeys>) -> std::sync::MutexGuard<'_, StoredKeys> {
    stored.lock().unwrap_or_else(|e| e.into_inner())
}

/// The rows the commit of `commit_id` inserted, from its commit info.
async fn inserted_by(table: &DeltaTable, commit_id: &str) -> Result<u64, SinkError> {
    use futures::TryStreamExt;
    let infos: Vec<_> = table
        .history(Some(100))
        .try_collect()
        .await
        .map_err(|e| error(table.table_url(), e))?;
    let ours = infos
        .iter()
        .find(|i| i.info.get(COMMIT).and_then(|v| v.as_str()) == Some(commit_id));
    ours.and_then(|i| i.info.get(INSERTED))
        .and_then(|v| v.as_u64())
        .ok_or_else(|| SinkError::Delta {
            table: table.table_url().to_string(),
            message: format!("commit {commit_id} is in the table but its metrics are not"),
        })
}

/// A create that found the table made by another writer meanwhile.
fn already_exists(e: &DeltaTableError) -> bool {
    e.to_string().contains("already exists")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Date32Array, StringArray};

    use super::*;

    /// `n` rows with ids `0..n` on 2026-11-20.
    fn rows(n: usize) -> RecordBatch {
        RecordBatch::try_from_iter(vec![
            (
                "event_date",
                Arc::new(Date32Array::from_iter_values(std::iter::repeat_n(20777, n))) as ArrayRef,
            ),
            (
                "id",
                Arc::new(StringArray::from_iter_values((0..n).map(|i| i.to_string()))),
            ),
        ])
        .unwrap()
    }

    /// The table's row count and how many of its log entries carry a `metaData` action (a
    /// table is created once: a second one would be a second create that won a later version).
    async fn rows_and_creates(url: &Url) -> (usize, usize) {
        let table = handle(url, &HashMap::new()).await.unwrap();
        let ctx = SessionContext::new();
        let provider = table
            .table_provider()
            .with_session(Arc::new(ctx.state()))
            .await
            .unwrap();
        let count = ctx.read_table(provider).unwrap().count().await.unwrap();
        let log = url.to_file_path().unwrap().join("_delta_log");
        let creates = std::fs::read_dir(&log)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter(|p| std::fs::read_to_string(p).unwrap().contains("\"metaData\""))
            .count();
        (count, creates)
    }

    /// Writers that all find no table and race to create it: delta-rs (1.1.1) commits a create
    /// that lost version 0 at the next version without a conflict check, so without `create`'s
    /// single attempt the table would be created twice.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_first_inserts_create_the_table_once_and_store_each_key_once() {
        for round in 0..12 {
            let dir = tempfile::tempdir().unwrap();
            let url = Url::from_directory_path(dir.path().join("t")).unwrap();
            let writers = (0..4).map(|w| {
                let url = url.clone();
                tokio::spawn(async move {
                    let id = format!("round{round}-writer{w}");
                    insert_new(
                        &url,
                        &HashMap::new(),
                        vec![rows(50)],
                        Some("event_date"),
                        &["id"],
                        &id,
                        None,
                    )
                    .await
                    .unwrap()
                })
            });
            let inserted: u64 = futures::future::join_all(writers)
                .await
                .into_iter()
                .map(|r| r.unwrap())
                .sum();
            assert_eq!(inserted, 50, "round {round}: rows reported inserted");
            assert_eq!(rows_and_creates(&url).await, (50, 1), "round {round}");
        }
    }

    /// The same race for appends: every writer's rows are kept, and the table is created once.
    /// Rows on `day` (days since 1970) with ids `from..from + n`.
    fn day_rows(day: i32, from: usize, n: usize) -> RecordBatch {
        RecordBatch::try_from_iter(vec![
            (
                "event_date",
                Arc::new(Date32Array::from_iter_values(std::iter::repeat_n(day, n))) as ArrayRef,
            ),
            (
                "id",
                Arc::new(StringArray::from_iter_values(
                    (from..from + n).map(|i| i.to_string()),
                )),
            ),
        ])
        .unwrap()
    }

    #[test]
    fn a_batch_is_one_partition_only_when_every_row_has_the_same_date() {
        assert!(one_partition(&day_rows(20777, 0, 3), "event_date"));
        let mixed = arrow::compute::concat_batches(
            &day_rows(0, 0, 0).schema(),
            &[day_rows(20777, 0, 2), day_rows(20778, 2, 1)],
        )
        .unwrap();
        assert!(!one_partition(&mixed, "event_date"));
        assert!(!one_partition(&day_rows(20777, 0, 0), "event_date"));
        assert!(!one_partition(&day_rows(20777, 0, 3), "no_such_column"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn keyed_inserts_file_one_day_batches_and_mixed_batches_under_their_dates() {
        let dir = tempfile::tempdir().unwrap();
        let url = Url::from_directory_path(dir.path().join("t")).unwrap();
        let insert = |batches, id| insert_ids(&url, batches, id, None);
        assert_eq!(insert(vec![day_rows(20777, 0, 5)], "c1").await, 5);
        let mixed = arrow::compute::concat_batches(
            &day_rows(0, 0, 0).schema(),
            &[day_rows(20777, 20, 2), day_rows(20778, 22, 2)],
        )
        .unwrap();
        // Ids 3 and 4 are stored already; the one-day batch and the mixed one add the rest.
        let inserted = insert(vec![day_rows(20778, 3, 4), mixed], "c2").await;
        assert_eq!(inserted, 6);
        let counted = table_sql(
            &url,
            "SELECT CAST(event_date AS VARCHAR) AS d, count(*) AS n, min(id) AS lo FROM t GROUP BY 1 ORDER BY 1",
        )
        .await;
        let text = arrow::util::pretty::pretty_format_batches(&counted)
            .unwrap()
            .to_string();
        assert!(text.contains("| 2026-11-20 | 7 | 0  |"), "{text}");
        assert!(text.contains("| 2026-11-21 | 4 | 22 |"), "{text}");
        for day in ["2026-11-20", "2026-11-21"] {
            let folder = dir.path().join("t").join(format!("event_date={day}"));
            assert!(folder.is_dir(), "no partition folder {}", folder.display());
        }
    }

    /// A table agenttrail creates is checkpointed every 10 commits (loading it then reads the
    /// checkpoint and at most 9 JSON entries), and reads the same rows through its checkpoints.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_created_table_is_checkpointed_every_ten_commits() {
        let dir = tempfile::tempdir().unwrap();
        let url = Url::from_directory_path(dir.path().join("t")).unwrap();
        for c in 0..21 {
            let id = format!("c{c}");
            assert_eq!(
                insert_ids(&url, vec![day_rows(20777, c * 3, 3)], &id, None).await,
                3
            );
        }
        let log = dir.path().join("t").join("_delta_log");
        let mut checkpoints: Vec<String> = std::fs::read_dir(&log)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".checkpoint.parquet"))
            .collect();
        checkpoints.sort();
        assert_eq!(
            checkpoints,
            // delta-rs checkpoints the version whose number + 1 is a multiple of the interval.
            [
                "00000000000000000009.checkpoint.parquet",
                "00000000000000000019.checkpoint.parquet"
            ]
        );
        assert_eq!(rows_and_creates(&url).await.0, 63);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_first_appends_keep_every_row_and_create_the_table_once() {
        for round in 0..12 {
            let dir = tempfile::tempdir().unwrap();
            let url = Url::from_directory_path(dir.path().join("t")).unwrap();
            let writers = (0..4).map(|w| {
                let url = url.clone();
                tokio::spawn(async move {
                    let id = format!("round{round}-writer{w}");
                    append(
                        &url,
                        &HashMap::new(),
                        vec![rows(10)],
                        Some("event_date"),
                        &id,
                    )
                    .await
                    .unwrap()
                })
            });
            for r in futures::future::join_all(writers).await {
                r.unwrap();
            }
            assert_eq!(rows_and_creates(&url).await, (40, 1), "round {round}");
        }
    }

    /// A keyed insert of `batches` by `id` under `event_date`, keeping the stored keys in `known`
    /// when given; the rows inserted.
    async fn insert_ids(
        url: &Url,
        batches: Vec<RecordBatch>,
        commit: &str,
        known: Option<&std::sync::Mutex<StoredKeys>>,
    ) -> u64 {
        insert_new(
            url,
            &HashMap::new(),
            batches,
            Some("event_date"),
            &["id"],
            commit,
            known,
        )
        .await
        .unwrap()
    }

    /// The answer to `sql` over the table at `url`, registered as `t`.
    async fn table_sql(url: &Url, sql: &str) -> Vec<RecordBatch> {
        let ctx = SessionContext::new();
        let table = handle(url, &HashMap::new()).await.unwrap();
        ctx.register_table("t", table.table_provider().await.unwrap())
            .unwrap();
        ctx.sql(sql).await.unwrap().collect().await.unwrap()
    }

    /// The ids of the table's rows, by date, sorted.
    async fn ids_by_date(url: &Url) -> Vec<(String, String)> {
        let batches = table_sql(
            url,
            "SELECT CAST(event_date AS VARCHAR) AS d, id FROM t ORDER BY 1, 2",
        )
        .await;
        let mut out = Vec::new();
        for b in &batches {
            let text = |c: &ArrayRef| {
                arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8)
                    .unwrap()
                    .as_string::<i32>()
                    .clone()
            };
            let (d, id) = (text(b.column(0)), text(b.column(1)));
            out.extend(
                (0..b.num_rows()).map(|r| (d.value(r).to_string(), id.value(r).to_string())),
            );
        }
        out
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_date_s_stored_keys_are_read_once_and_every_stored_copy_is_still_found() {
        let dir = tempfile::tempdir().unwrap();
        let url = Url::from_directory_path(dir.path().join("t")).unwrap();
        let known = std::sync::Mutex::new(StoredKeys::default());
        let read = || known.lock().unwrap().partitions_read();
        let insert =
            |batches, id, cache: bool| insert_ids(&url, batches, id, cache.then_some(&known));
        // The first write creates the table: the date's keys are the batch's.
        assert_eq!(insert(vec![day_rows(20777, 0, 5)], "c1", true).await, 5);
        // New ids on that date: nothing read back.
        assert_eq!(insert(vec![day_rows(20777, 5, 5)], "c2", true).await, 5);
        assert_eq!(read(), 0, "the date's keys are known");
        // Copies of stored ids (from both commits): the date is read, and they are dropped.
        assert_eq!(insert(vec![day_rows(20777, 3, 9)], "c3", true).await, 2);
        assert_eq!(
            read(),
            1,
            "a key that may be stored sends its date to the scan"
        );
        // A new date is read (it may hold keys written before this process).
        assert_eq!(insert(vec![day_rows(20778, 100, 3)], "c4", true).await, 3);
        assert_eq!(read(), 2);
        // Another writer adds ids to the first date: the next commit must not trust its hashes.
        assert_eq!(
            insert(vec![day_rows(20777, 200, 3)], "other", false).await,
            3
        );
        assert_eq!(insert(vec![day_rows(20777, 201, 3)], "c5", true).await, 1);
        assert_eq!(read(), 3, "another writer's commit: the date is read again");
        // A key stored on one date of the scope counts as stored for a row of another date, as
        // the scan finds it: id 0 (on 2026-11-20) sent again on 2026-11-21.
        assert_eq!(
            insert(
                vec![day_rows(20777, 300, 1), day_rows(20778, 0, 1)],
                "c6",
                true
            )
            .await,
            1
        );
        let stored = ids_by_date(&url).await;
        let mut ids: Vec<&str> = stored.iter().map(|(_, id)| id.as_str()).collect();
        assert_eq!(ids.len(), 5 + 5 + 2 + 3 + 3 + 1 + 1);
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), stored.len(), "an id stored twice: {stored:?}");
    }

    /// Random commits (many copies, three dates, a second writer now and then, a budget that
    /// evicts) give the same inserted counts and the same table with the stored keys kept as
    /// without them.
    #[tokio::test(flavor = "multi_thread")]
    async fn inserts_with_the_stored_keys_kept_store_what_inserts_without_them_store() {
        let dir = tempfile::tempdir().unwrap();
        let cached = Url::from_directory_path(dir.path().join("cached")).unwrap();
        let plain = Url::from_directory_path(dir.path().join("plain")).unwrap();
        let known = std::sync::Mutex::new(StoredKeys::with_budget(150));
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for commit in 0..60 {
            let batches: Vec<RecordBatch> = (0..1 + next(3))
                .map(|_| {
                    day_rows(
                        20777 + next(3) as i32,
                        next(300) as usize,
                        1 + next(8) as usize,
                    )
                })
                .collect();
            let id = format!("c{commit}");
            let foreign = next(5) == 0;
            let with = insert_ids(&cached, batches.clone(), &id, (!foreign).then_some(&known));
            let without = insert_ids(&plain, batches, &id, None);
            assert_eq!(with.await, without.await, "commit {commit}");
        }
        assert!(known.lock().unwrap().partitions_read() > 0);
        assert_eq!(ids_by_date(&cached).await, ids_by_date(&plain).await);
    }

    /// A commit that delta-rs lands after another writer's non-conflicting commit (another
    /// date) must not leave the hashes of that date trusted at the new version.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_commit_landed_after_another_writer_s_forgets_the_dates_it_did_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let url = Url::from_directory_path(dir.path().join("t")).unwrap();
        let options = HashMap::new();
        let known = std::sync::Mutex::new(StoredKeys::default());
        let insert =
            |batches, id, cache: bool| insert_ids(&url, batches, id, cache.then_some(&known));
        assert_eq!(insert(vec![day_rows(20777, 0, 3)], "c1", true).await, 3);
        assert_eq!(insert(vec![day_rows(20778, 10, 3)], "c2", true).await, 3);
        // This writer reads the table, then another writer adds to the first date.
        let stale = handle(&url, &options).await.unwrap();
        let read_at = stale.version().unwrap();
        let mut keys = known.lock().unwrap().take(url.as_str(), read_at);
        assert!(keys.knows("2026-11-20") && keys.knows("2026-11-21"));
        assert_eq!(
            insert(vec![day_rows(20777, 100, 3)], "other", false).await,
            3
        );
        let properties = |_: u64| CommitProperties::default();
        let (inserted, version) = insert_attempt(
            &stale,
            false,
            &mut Insert::Batches(vec![day_rows(20778, 20, 2)]),
            Some("event_date"),
            &["id"],
            &properties,
            Some(&mut keys),
        )
        .await
        .unwrap();
        assert_eq!(
            (inserted, version),
            (2, read_at + 2),
            "landed after the other commit"
        );
        keys.version = version;
        known.lock().unwrap().put(url.as_str(), keys);
        // The other writer's ids are found stored, not inserted again.
        assert_eq!(insert(vec![day_rows(20777, 100, 3)], "c4", true).await, 0);
    }
}
