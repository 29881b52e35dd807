//! The ledger of ingested source objects: the `ingested` table of the lake.
//!
//! One row per source object a commit read (accepted, rejected or duplicate records alike), with
//! the object's version (ETag, or size and mtime locally): an object whose version is in the
//! ledger is not read again, a new version of the same key is. Each commit appends its ledger rows
//! last, after its events, rejects and facts are committed, so a crash before that leaves objects
//! that the next run reads again, and the keyed insert of `events` keeps those records from
//! being stored twice. Two workers that read the same object both append a row for it; readers
//! take any row of an object's version (they agree).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};

use crate::schema::timestamp_type;

/// The table's name in the lake.
pub const TABLE: &str = "ingested";

/// A source object recorded as ingested.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceEntry {
    /// `s3://bucket/key` or a local path.
    pub uri: String,
    /// ETag or size-mtime: a new version of the same key is ingested again.
    pub version: String,
    /// Size in bytes.
    pub size: u64,
    /// Records in `Records`.
    pub records: u64,
    /// Records rejected (or 1 for an object-level reject).
    pub rejected: u64,
    /// Records dropped as duplicates within the commit.
    pub duplicates: u64,
    /// Set when the object as a whole could not be read; its reason is in `rejects`.
    pub error: Option<String>,
    /// Hex SHA-256 of the decompressed bytes (what a CloudTrail digest records), when the
    /// object decompressed whole: integrity checks compare it without fetching the file again.
    pub sha256: Option<String>,
}

/// Schema of the `ingested` table.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("source_object", DataType::Utf8, false),
        Field::new("source_version", DataType::Utf8, false),
        Field::new("size", DataType::Int64, false),
        Field::new("records", DataType::Int64, false),
        Field::new("rejected", DataType::Int64, false),
        Field::new("duplicates", DataType::Int64, false),
        Field::new("error", DataType::Utf8, true),
        Field::new("sha256", DataType::Utf8, true),
        Field::new("commit_id", DataType::Utf8, false),
        Field::new("committed_at", timestamp_type(), false),
    ]))
}

/// The ledger rows of one commit.
pub fn to_batch(
    sources: &[SourceEntry],
    commit_id: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let n = sources.len();
    let int = |f: fn(&SourceEntry) -> u64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(
            sources
                .iter()
                .map(|s| i64::try_from(f(s)).unwrap_or(i64::MAX)),
        ))
    };
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            sources.iter().map(|s| &s.uri),
        )),
        Arc::new(StringArray::from_iter_values(
            sources.iter().map(|s| &s.version),
        )),
        int(|s| s.size),
        int(|s| s.records),
        int(|s| s.rejected),
        int(|s| s.duplicates),
        Arc::new(StringArray::from_iter(
            sources.iter().map(|s| s.error.as_deref()),
        )),
        Arc::new(StringArray::from_iter(
            sources.iter().map(|s| s.sha256.as_deref()),
        )),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
            commit_id, n,
        ))),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(
                at.timestamp_micros(),
                n,
            ))
            .with_timezone("UTC"),
        ),
    ];
    RecordBatch::try_new(schema(), cols)
}

/// Every source object of the lake.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    /// One entry per ledger row, oldest commit first (commit ids start with the commit's time).
    pub sources: Vec<SourceEntry>,
    /// Distinct commits that wrote ledger rows.
    pub commits: usize,
}

impl Ledger {
    /// Read the ledger from the table's rows (columns as declared by [`schema`]).
    pub fn from_batches(batches: &[RecordBatch]) -> Ledger {
        let mut rows: Vec<(String, SourceEntry)> = Vec::new();
        for b in batches {
            let s = |name: &str| b.column_by_name(name).map(|c| c.as_string::<i32>().clone());
            let i = |name: &str| {
                b.column_by_name(name)
                    .and_then(|c| c.as_primitive_opt::<Int64Type>().cloned())
            };
            let (Some(uri), Some(version), Some(commit)) =
                (s("source_object"), s("source_version"), s("commit_id"))
            else {
                continue;
            };
            let (size, records, rejected, duplicates) =
                (i("size"), i("records"), i("rejected"), i("duplicates"));
            let (error, sha) = (s("error"), s("sha256"));
            let get = |a: &Option<Int64Array>, r: usize| {
                a.as_ref()
                    .map_or(0, |a| u64::try_from(a.value(r)).unwrap_or(0))
            };
            let opt = |a: &Option<StringArray>, r: usize| {
                a.as_ref()
                    .filter(|a| a.is_valid(r))
                    .map(|a| a.value(r).to_string())
            };
            for r in 0..b.num_rows() {
                rows.push((
                    commit.value(r).to_string(),
                    SourceEntry {
                        uri: uri.value(r).to_string(),
                        version: version.value(r).to_string(),
                        size: get(&size, r),
                        records: get(&records, r),
                        rejected: get(&rejected, r),
                        duplicates: get(&duplicates, r),
                        error: opt(&error, r),
                        sha256: opt(&sha, r),
                    },
                ));
            }
        }
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let mut commits: Vec<&str> = rows.iter().map(|(c, _)| c.as_str()).collect();
        commits.dedup();
        let commits = commits.len();
        Ledger {
            sources: rows.into_iter().map(|(_, s)| s).collect(),
            commits,
        }
    }

    /// Map of ingested `uri` → `version`. An object read by two workers, or in several versions,
    /// has several rows; any version listed counts as ingested.
    pub fn ingested(&self) -> HashMap<&str, Vec<&str>> {
        let mut out: HashMap<&str, Vec<&str>> = HashMap::new();
        for s in &self.sources {
            out.entry(s.uri.as_str())
                .or_default()
                .push(s.version.as_str());
        }
        out
    }

    /// Whether this version of `uri` is in the ledger.
    pub fn contains(map: &HashMap<&str, Vec<&str>>, uri: &str, version: &str) -> bool {
        map.get(uri).is_some_and(|v| v.contains(&version))
    }

    /// Map of ingested `uri` → (`version`, `sha256`) for objects whose hash is known; for an
    /// object read in several versions, the latest read.
    pub fn hashes(&self) -> HashMap<&str, (&str, &str)> {
        self.sources
            .iter()
            .filter_map(|s| Some((s.uri.as_str(), (s.version.as_str(), s.sha256.as_deref()?))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(uri: &str, version: &str, sha: Option<&str>) -> SourceEntry {
        SourceEntry {
            uri: uri.into(),
            version: version.into(),
            size: 10,
            records: 3,
            rejected: 1,
            duplicates: 0,
            error: None,
            sha256: sha.map(str::to_string),
        }
    }

    #[test]
    fn rows_read_back_as_written_and_any_listed_version_counts() {
        let at = chrono::Utc::now();
        let a = to_batch(&[entry("s3://b/k1", "e1", Some("ab"))], "c1", at).unwrap();
        let b = to_batch(
            &[
                entry("s3://b/k1", "e2", None),
                entry("s3://b/k2", "e3", None),
            ],
            "c2",
            at,
        )
        .unwrap();
        let ledger = Ledger::from_batches(&[a, b]);
        assert_eq!(ledger.commits, 2);
        assert_eq!(ledger.sources[0], entry("s3://b/k1", "e1", Some("ab")));
        let map = ledger.ingested();
        assert!(Ledger::contains(&map, "s3://b/k1", "e1"));
        assert!(Ledger::contains(&map, "s3://b/k1", "e2"));
        assert!(!Ledger::contains(&map, "s3://b/k2", "e1"));
        assert_eq!(ledger.hashes().get("s3://b/k1"), Some(&("e1", "ab")));
    }
}
