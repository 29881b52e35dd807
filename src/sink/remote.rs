//! A lake on S3, used through a local mirror.
//!
//! Lake files are immutable and named by their commit, so a local copy of any of them is valid
//! forever: readers pull the manifest entries and the files they name into the mirror (only
//! those missing) and query locally; writers stage and upload a commit's Parquet files first and
//! its manifest entry last, so a commit appears on S3 whole or not at all. Files uploaded by a
//! run that died before its manifest upload are invisible (no manifest names them) and are left
//! in place (deleting them would need `s3:DeleteObject`, which the tool does not ask for).
//! One run at a time writes an S3 lake: `ingest` and `run` take the lease of `lease` first.

use std::path::Path;

use aws_sdk_s3::Client as S3Client;
use aws_sdk_s3::primitives::ByteStream;

use super::manifest::Manifest;
use super::{Lake, PreparedCommit, SinkError};
use crate::source::error_chain;

/// Bucket and prefix of a lake on S3.
#[derive(Debug, Clone)]
pub struct RemoteLake {
    client: S3Client,
    bucket: String,
    prefix: String,
}

impl RemoteLake {
    /// A lake at `s3://bucket/prefix`.
    pub fn new(client: S3Client, bucket: String, prefix: String) -> RemoteLake {
        RemoteLake {
            client,
            bucket,
            prefix,
        }
    }

    fn key(&self, rel: &str) -> String {
        if self.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        }
    }

    fn err(&self, rel: &str, e: &dyn std::error::Error) -> SinkError {
        SinkError::Write {
            path: format!("s3://{}/{}", self.bucket, self.key(rel)),
            message: error_chain(e),
        }
    }

    async fn download(&self, rel: &str, root: &Path) -> Result<(), SinkError> {
        let dst = root.join(rel);
        if dst.exists() {
            return Ok(());
        }
        let bytes = self.get_state(rel).await?.ok_or_else(|| SinkError::Write {
            path: format!("s3://{}/{}", self.bucket, self.key(rel)),
            message: "named by the manifest but absent from S3".into(),
        })?;
        if let Some(dir) = dst.parent() {
            std::fs::create_dir_all(dir).map_err(|e| SinkError::io(dir, e))?;
        }
        let tmp = dst.with_extension("download.tmp");
        std::fs::write(&tmp, &bytes).map_err(|e| SinkError::io(&tmp, e))?;
        std::fs::rename(&tmp, &dst).map_err(|e| SinkError::io(&dst, e))?;
        Ok(())
    }

    /// Copy manifest entries that exist on S3 but not in the mirror. Returns how many.
    pub async fn pull_manifest(&self, lake: &Lake) -> Result<usize, SinkError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.key("_manifest/"))
            .into_paginator()
            .send();
        let mut pulled = 0;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err("_manifest/", &e))?;
            for o in page.contents() {
                let Some(key) = o.key() else { continue };
                let Some(name) = key.rsplit('/').next().filter(|n| n.ends_with(".json")) else {
                    continue;
                };
                let rel = format!("_manifest/{name}");
                if !lake.root().join(&rel).exists() {
                    self.download(&rel, lake.root()).await?;
                    pulled += 1;
                }
            }
        }
        Ok(pulled)
    }

    /// Copy one lake file into the mirror unless it is there already.
    pub async fn pull_file(&self, rel: &str, root: &Path) -> Result<(), SinkError> {
        self.download(rel, root).await
    }

    /// Copy the files the manifest names that the mirror lacks. Returns how many.
    pub async fn pull_files(&self, lake: &Lake, manifest: &Manifest) -> Result<usize, SinkError> {
        let mut pulled = 0;
        for f in manifest.commits.iter().flat_map(|c| c.files.iter()) {
            if !lake.root().join(&f.path).exists() {
                self.download(&f.path, lake.root()).await?;
                pulled += 1;
            }
        }
        Ok(pulled)
    }

    /// Upload a prepared commit: its files, then its manifest entry.
    pub async fn push(&self, prepared: &PreparedCommit) -> Result<(), SinkError> {
        for (local, rel) in prepared.staged_files() {
            let body = ByteStream::from_path(&local)
                .await
                .map_err(|e| self.err(&rel, &e))?;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(self.key(&rel))
                .body(body)
                .send()
                .await
                .map_err(|e| self.err(&rel, &e))?;
        }
        let rel = format!("_manifest/{}.json", prepared.commit.id);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(&rel))
            .body(ByteStream::from(prepared.manifest_json.clone()))
            .send()
            .await
            .map_err(|e| self.err(&rel, &e))?;
        Ok(())
    }

    /// Take the lake's writer lease (see `lease`).
    pub async fn lease(&self) -> Result<super::lease::Lease, SinkError> {
        super::lease::acquire(&self.client, &self.bucket, &self.key("_lease.json")).await
    }

    /// One object of the lake, e.g. a data file or `_publish_pending.json`; None when absent.
    pub async fn get_state(&self, rel: &str) -> Result<Option<Vec<u8>>, SinkError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.key(rel))
            .send()
            .await
        {
            Ok(out) => Ok(Some(
                out.body
                    .collect()
                    .await
                    .map_err(|e| self.err(rel, &e))?
                    .into_bytes()
                    .to_vec(),
            )),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(self.err(rel, &e)),
        }
    }

    /// Write a small state file of the lake (one PUT: S3 replaces objects atomically).
    pub async fn put_state(&self, rel: &str, body: Vec<u8>) -> Result<(), SinkError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(rel))
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.err(rel, &e))?;
        Ok(())
    }
}

/// Whether a GET failed because the object does not exist: 404, or 403 when the caller may not
/// list the key's folder (S3 answers a missing key with 403 unless `s3:ListBucket` covers it, and
/// the least-privilege policy grants listing only under the lake's prefix with a condition).
/// A real denial of `s3:GetObject` surfaces anyway at the conditional PUT that follows.
pub fn is_absent(
    e: &aws_sdk_s3::error::SdkError<
        aws_sdk_s3::operation::get_object::GetObjectError,
        aws_sdk_s3::config::http::HttpResponse,
    >,
) -> bool {
    e.as_service_error().is_some_and(|s| s.is_no_such_key())
        || e.raw_response().is_some_and(|r| r.status().as_u16() == 403)
}
