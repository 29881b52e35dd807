//! The lake's manifest: which source objects are in the lake and which files hold them.
//!
//! One JSON file per commit under `_manifest/`, written to a temporary name, fsynced and renamed,
//! so it either exists whole or not at all. A Parquet file is part of the lake only if a commit
//! names it; readers (`query`) build their tables from this list, never from a directory listing,
//! so files left by a crashed run are invisible and the next run deletes them.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SinkError;

/// One committed unit of work.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Commit {
    /// Unique id; also part of every file name the commit wrote.
    pub id: String,
    /// Manifest format version.
    pub format: u32,
    /// Source objects whose records this commit holds (all of them: accepted, rejected, duplicate).
    pub sources: Vec<SourceEntry>,
    /// Files this commit added, relative to the lake root.
    pub files: Vec<FileEntry>,
}

/// A source object recorded as ingested.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Hex SHA-256 of the decompressed bytes (what a CloudTrail digest records), when the
    /// object decompressed whole: integrity checks compare it without fetching the file again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// A Parquet file written by a commit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// `events` or `rejects`.
    pub table: String,
    /// Path relative to the lake root, `/`-separated.
    pub path: String,
    /// Event date for `events` files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Rows in the file.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
}

/// All commits of a lake.
#[derive(Debug, Default, Clone)]
pub struct Manifest {
    /// Commits, sorted by id.
    pub commits: Vec<Commit>,
}

impl Manifest {
    /// Read every `_manifest/*.json`. Temporary files of an interrupted commit are ignored.
    pub fn load(dir: &Path) -> Result<Manifest, SinkError> {
        let mut commits = Vec::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Manifest::default()),
            Err(e) => return Err(SinkError::io(dir, e)),
        };
        for entry in entries {
            let path = entry.map_err(|e| SinkError::io(dir, e))?.path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| SinkError::io(&path, e))?;
            let commit: Commit = serde_json::from_str(&text).map_err(|e| SinkError::Manifest {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            commits.push(commit);
        }
        commits.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Manifest { commits })
    }

    /// Map of ingested `uri` → `version`.
    pub fn ingested(&self) -> HashMap<&str, &str> {
        self.commits
            .iter()
            .flat_map(|c| c.sources.iter())
            .map(|s| (s.uri.as_str(), s.version.as_str()))
            .collect()
    }

    /// Map of ingested `uri` → (`version`, `sha256`) for objects whose hash is known.
    pub fn hashes(&self) -> HashMap<&str, (&str, &str)> {
        self.commits
            .iter()
            .flat_map(|c| c.sources.iter())
            .filter_map(|s| Some((s.uri.as_str(), (s.version.as_str(), s.sha256.as_deref()?))))
            .collect()
    }

    /// Files of `table`, in commit order.
    pub fn files<'a>(&'a self, table: &'a str) -> impl Iterator<Item = &'a FileEntry> + 'a {
        self.commits
            .iter()
            .flat_map(|c| c.files.iter())
            .filter(move |f| f.table == table)
    }
}
