//! Keeping the lake cheap to read: `lake info`, `lake optimize`, `lake vacuum`.
//!
//! A job scheduled every few minutes adds a few small files per date and one log entry per table
//! each run. `optimize` rewrites the small files of each partition into large ones (bin-packing,
//! one Delta commit that removes the old files and adds the new, so readers see either layout and
//! never both), then writes a checkpoint so that opening a table reads one Parquet checkpoint
//! instead of thousands of JSON entries (ingest also writes one every 10 commits). Removed files
//! stay on storage for readers of older versions until `vacuum`, which deletes, once older than a
//! retention period: files no table version needs (the removed ones, and orphans of writers that
//! died before their commit) and expired log entries. Vacuum is the only command that deletes,
//! hence the only one whose IAM policy needs `s3:DeleteObject`.

use std::collections::BTreeMap;
use std::num::NonZeroU64;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use deltalake::operations::vacuum::VacuumMode;

use super::{Lake, SinkError, TABLES, delta};

/// Files, rows and bytes of a set of data files.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    /// Data files.
    pub files: u64,
    /// Rows (from the files' statistics).
    pub rows: u64,
    /// Bytes.
    pub bytes: u64,
}

/// What `lake info` reports for one table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableInfo {
    /// Table name.
    pub table: String,
    /// Latest version (None: no commit yet).
    pub version: Option<u64>,
    /// The whole table.
    pub totals: Totals,
    /// Per partition value (`event_date` for `events`).
    pub partitions: BTreeMap<String, Totals>,
}

/// Versions, files, rows and bytes of every table of the lake.
pub async fn info(lake: &Lake) -> Result<Vec<TableInfo>, SinkError> {
    let mut out = Vec::new();
    for name in TABLES {
        let url = lake.table_url(name)?;
        let mut info = TableInfo {
            table: (*name).to_string(),
            version: None,
            totals: Totals::default(),
            partitions: BTreeMap::new(),
        };
        if let Some(table) = lake.table(name).await? {
            info.version = table.version();
            let state = table.snapshot().map_err(|e| delta::error(&url, e))?;
            let adds = state
                .add_actions_table(true)
                .map_err(|e| delta::error(&url, e))?;
            let int = |c: &str| {
                adds.column_by_name(c)
                    .and_then(|a| arrow::compute::cast(a, &arrow::datatypes::DataType::Int64).ok())
            };
            let (size, rows) = (int("size_bytes"), int("num_records"));
            let part = super::partition_column(name).and_then(|p| {
                adds.column_by_name(&format!("partition.{p}"))
                    .and_then(|a| arrow::compute::cast(a, &arrow::datatypes::DataType::Utf8).ok())
            });
            for r in 0..adds.num_rows() {
                let get = |a: &Option<arrow::array::ArrayRef>| {
                    a.as_ref()
                        .map(|a| a.as_primitive::<Int64Type>())
                        .filter(|a| a.is_valid(r))
                        .map_or(0, |a| u64::try_from(a.value(r)).unwrap_or(0))
                };
                let t = Totals {
                    files: 1,
                    rows: get(&rows),
                    bytes: get(&size),
                };
                add(&mut info.totals, &t);
                if let Some(p) = &part {
                    let p = p.as_string::<i32>();
                    let key = if p.is_valid(r) {
                        p.value(r).to_string()
                    } else {
                        "null".into()
                    };
                    add(info.partitions.entry(key).or_default(), &t);
                }
            }
        }
        out.push(info);
    }
    Ok(out)
}

fn add(to: &mut Totals, t: &Totals) {
    to.files += t.files;
    to.rows += t.rows;
    to.bytes += t.bytes;
}

/// What `optimize` did to one table.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Optimized {
    /// Table name.
    pub table: String,
    /// Small files rewritten.
    pub files_removed: u64,
    /// Files written in their place.
    pub files_added: u64,
    /// Version after the run.
    pub version: Option<u64>,
}

/// Compact the small files of every table (target file size in bytes), then checkpoint.
pub async fn optimize(lake: &Lake, target_bytes: u64) -> Result<Vec<Optimized>, SinkError> {
    let mut out = Vec::new();
    for name in TABLES {
        let url = lake.table_url(name)?;
        let Some(table) = lake.table(name).await? else {
            continue;
        };
        let (table, metrics) = table
            .optimize()
            .with_target_size(NonZeroU64::new(target_bytes).unwrap_or(NonZeroU64::MIN))
            .with_writer_properties(super::parquet::writer_properties())
            .with_commit_properties(
                deltalake::kernel::transaction::CommitProperties::default()
                    .with_cleanup_expired_logs(Some(false)),
            )
            .await
            .map_err(|e| delta::error(&url, e))?;
        deltalake::checkpoints::create_checkpoint(&table, None)
            .await
            .map_err(|e| delta::error(&url, e))?;
        out.push(Optimized {
            table: (*name).to_string(),
            files_removed: metrics.num_files_removed,
            files_added: metrics.num_files_added,
            version: table.version(),
        });
    }
    Ok(out)
}

/// What `vacuum` did (or would do) to one table.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Vacuumed {
    /// Table name.
    pub table: String,
    /// Data files deleted (or that would be, in a dry run).
    pub files: Vec<String>,
    /// Expired log entries deleted.
    pub log_entries: usize,
}

/// Delete files no version of any table needs that are older than `retention`, and expired log
/// entries. `dry_run` lists the files without deleting anything.
pub async fn vacuum(
    lake: &Lake,
    retention: chrono::Duration,
    dry_run: bool,
) -> Result<Vec<Vacuumed>, SinkError> {
    let mut out = Vec::new();
    for name in TABLES {
        let url = lake.table_url(name)?;
        let Some(table) = lake.table(name).await? else {
            continue;
        };
        let (table, metrics) = table
            .vacuum()
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .with_mode(VacuumMode::Full)
            .with_dry_run(dry_run)
            .await
            .map_err(|e| delta::error(&url, e))?;
        let log_entries = if dry_run {
            0
        } else {
            deltalake::checkpoints::create_checkpoint(&table, None)
                .await
                .map_err(|e| delta::error(&url, e))?;
            deltalake::checkpoints::cleanup_metadata(&table, None)
                .await
                .map_err(|e| delta::error(&url, e))?
        };
        let mut files = metrics.files_deleted;
        if let Some(root) = lake.local_root() {
            files.extend(remove_staging_files(&root.join(name), retention, dry_run)?);
        }
        out.push(Vacuumed {
            table: (*name).to_string(),
            files,
            log_entries,
        });
    }
    Ok(out)
}

/// On a local lake, delete the staging files of writes that never finished (older than
/// `retention`) and return their paths relative to the table.
///
/// Why: object_store writes a local file as `<name>#<n>` and renames it when complete; a process
/// killed in between leaves the staging file behind, and object_store's listing (hence Delta's
/// vacuum) never shows names with a `#`. On S3 an unfinished upload leaves no object.
fn remove_staging_files(
    table: &std::path::Path,
    retention: chrono::Duration,
    dry_run: bool,
) -> Result<Vec<String>, SinkError> {
    let io = |path: &std::path::Path, source: std::io::Error| SinkError::Io {
        path: path.display().to_string(),
        source,
    };
    let cutoff =
        std::time::SystemTime::now() - retention.to_std().unwrap_or(std::time::Duration::ZERO);
    let mut out = Vec::new();
    let mut stack = vec![table.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(&dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| io(&dir, e))?;
            let path = entry.path();
            let meta = entry.metadata().map_err(|e| io(&path, e))?;
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            let name = entry.file_name();
            let staging =
                name.to_str()
                    .and_then(|n| n.rsplit_once('#'))
                    .is_some_and(|(stem, n)| {
                        !stem.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
                    });
            if !staging || meta.modified().is_ok_and(|m| m > cutoff) {
                continue;
            }
            if !dry_run {
                std::fs::remove_file(&path).map_err(|e| io(&path, e))?;
            }
            let rel = path.strip_prefix(table).unwrap_or(&path);
            out.push(rel.to_string_lossy().into_owned());
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_files_of_unfinished_writes_go_once_older_than_the_retention() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("event_date=2026-11-20");
        std::fs::create_dir_all(&part).unwrap();
        for f in ["a.parquet", "a.parquet#1", "x#abc", "#7"] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        std::fs::write(part.join("b.parquet#12"), b"x").unwrap();
        let staged = vec![
            "a.parquet#1".to_string(),
            "event_date=2026-11-20/b.parquet#12".to_string(),
        ];
        // Younger than the retention: kept.
        assert!(
            remove_staging_files(dir.path(), chrono::Duration::hours(1), false)
                .unwrap()
                .is_empty()
        );
        // A dry run lists them and deletes nothing.
        assert_eq!(
            remove_staging_files(dir.path(), chrono::Duration::zero(), true).unwrap(),
            staged
        );
        assert!(part.join("b.parquet#12").exists());
        assert_eq!(
            remove_staging_files(dir.path(), chrono::Duration::zero(), false).unwrap(),
            staged
        );
        assert!(!dir.path().join("a.parquet#1").exists() && !part.join("b.parquet#12").exists());
        for kept in ["a.parquet", "x#abc", "#7"] {
            assert!(dir.path().join(kept).exists(), "{kept} was deleted");
        }
    }
}
