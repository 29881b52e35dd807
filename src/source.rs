//! The source stage: find CloudTrail objects and fetch their bytes.
//!
//! A source is `s3://bucket[/prefix]`, a local directory (walked recursively) or one local file.
//! Listing applies [`KeyFilter`] to every key before any GET and counts what it skips, so a run's
//! summary accounts for every object it saw. Fetching is bounded by the caller (the ingest command
//! runs at most `--fetch-concurrency` GETs at once) and retried here with backoff, because a
//! scheduled job must ride out S3's `SlowDown` and dropped connections.
//!
//! Bodies are read chunk by chunk into a buffer capped at `max_object_bytes` (compressed size);
//! decompression then runs on rayon in the decode stage, never on a tokio worker.

pub mod key;
pub mod plan;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_s3::Client as S3Client;
use thiserror::Error;
use tracing::{debug, warn};

pub use key::{KeyFilter, SkipReason};

/// Errors of the source stage; each names the object or location at fault.
#[derive(Debug, Error)]
pub enum SourceError {
    /// The source argument is not a path or an `s3://` URI.
    #[error("invalid source {uri:?}: {reason}")]
    InvalidUri {
        /// What was given.
        uri: String,
        /// Why it is not accepted.
        reason: String,
    },
    /// Listing failed (bucket missing, access denied, local folder unreadable).
    #[error("failed to list {location}: {message}")]
    List {
        /// Bucket/prefix or folder.
        location: String,
        /// The underlying error, with its chain.
        message: String,
    },
    /// Fetching one object failed after retries.
    #[error("failed to fetch {uri}: {message}")]
    Fetch {
        /// The object.
        uri: String,
        /// The underlying error, with its chain.
        message: String,
    },
    /// The object does not exist (any more).
    #[error("{uri} does not exist")]
    NotFound {
        /// The object.
        uri: String,
    },
    /// The object is larger than the configured cap.
    #[error("{uri} is larger than the {limit}-byte cap on compressed objects")]
    TooLarge {
        /// The object.
        uri: String,
        /// The cap in bytes.
        limit: u64,
    },
}

/// One object to read: where it is and what identifies this version of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceObject {
    /// Full location: `s3://bucket/key` or a local path.
    pub uri: String,
    /// The key (S3) or the path relative to the source folder, with `/` separators.
    pub key: String,
    /// ETag (S3) or `size-mtime` (local): a different value means different content.
    pub version: String,
    /// Size in bytes.
    pub size: u64,
}

/// The result of listing a source.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Listing {
    /// Objects to read, sorted by key.
    pub objects: Vec<SourceObject>,
    /// Objects seen and not read, by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Digest files the filter keeps (counted under `skipped` as `digest` too), sorted by key.
    pub digests: Vec<SourceObject>,
    /// ListObjectsV2 requests made (pages included).
    pub list_requests: u64,
}

/// Requests in flight at once in an incremental listing.
const LIST_CONCURRENCY: usize = 8;

impl Listing {
    /// Add what another listing found.
    fn merge(&mut self, other: Listing) {
        self.objects.extend(other.objects);
        self.digests.extend(other.digests);
        for (reason, n) in other.skipped {
            *self.skipped.entry(reason).or_default() += n;
        }
        self.list_requests += other.list_requests;
    }
}

/// Where CloudTrail objects come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A local folder or file.
    Local {
        /// The folder or file given.
        root: PathBuf,
    },
    /// An S3 bucket and optional prefix.
    S3 {
        /// Client built from the standard provider chain.
        client: S3Client,
        /// Bucket name.
        bucket: String,
        /// Key prefix (may be empty).
        prefix: String,
    },
}

/// Split `s3://bucket/prefix` into bucket and prefix.
pub fn parse_s3_uri(uri: &str) -> Result<(String, String), SourceError> {
    let rest = uri
        .strip_prefix("s3://")
        .ok_or_else(|| SourceError::InvalidUri {
            uri: uri.to_string(),
            reason: "expected s3://bucket[/prefix]".into(),
        })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(SourceError::InvalidUri {
            uri: uri.to_string(),
            reason: "the bucket name is empty".into(),
        });
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

impl Source {
    /// Build a source from a CLI argument. `s3` builds the S3 client only when needed.
    pub async fn open<F, Fut>(uri: &str, s3: F) -> Result<Source, SourceError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = S3Client>,
    {
        if uri.starts_with("s3://") {
            let (bucket, prefix) = parse_s3_uri(uri)?;
            Ok(Source::S3 {
                client: s3().await,
                bucket,
                prefix,
            })
        } else if uri.contains("://") {
            Err(SourceError::InvalidUri {
                uri: uri.to_string(),
                reason: "only s3:// URIs and local paths are supported".into(),
            })
        } else {
            let root = PathBuf::from(uri);
            if !root.exists() {
                return Err(SourceError::InvalidUri {
                    uri: uri.to_string(),
                    reason: "no such file or directory".into(),
                });
            }
            Ok(Source::Local { root })
        }
    }

    /// A short description for logs.
    pub fn describe(&self) -> String {
        match self {
            Source::Local { root } => root.display().to_string(),
            Source::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
        }
    }

    /// List the objects to read, applying `filter` to every key before any GET.
    /// `page_size` sets ListObjectsV2's `MaxKeys` (S3's default, 1,000, when `None`).
    pub async fn list(
        &self,
        filter: &KeyFilter,
        page_size: Option<i32>,
    ) -> Result<Listing, SourceError> {
        self.list_dates(filter, page_size, None).await
    }

    /// Like [`Source::list`], but on S3 only the delivery dates of `dates` are listed, in every
    /// account/Region folder (see `plan`); `None` lists everything. Local folders are walked whole
    /// (cheap) and filtered by key.
    pub async fn list_dates(
        &self,
        filter: &KeyFilter,
        page_size: Option<i32>,
        dates: Option<plan::DateRange>,
    ) -> Result<Listing, SourceError> {
        if let (
            Source::S3 {
                client,
                bucket,
                prefix,
            },
            Some(range),
        ) = (self, dates)
        {
            let mut listing = list_window(client, bucket, prefix, filter, page_size, range).await?;
            listing.objects.sort_by(|a, b| a.key.cmp(&b.key));
            listing.digests.sort_by(|a, b| a.key.cmp(&b.key));
            return Ok(listing);
        }
        let mut listing = Listing::default();
        match self {
            Source::Local { root } => {
                let root = root.clone();
                let found = tokio::task::spawn_blocking(move || walk_local(&root))
                    .await
                    .map_err(|e| SourceError::List {
                        location: "local folder".into(),
                        message: e.to_string(),
                    })??;
                for obj in found {
                    push_checked(&mut listing, filter, obj);
                }
            }
            Source::S3 {
                client,
                bucket,
                prefix,
            } => {
                let opts = ListOptions {
                    page_size,
                    ..Default::default()
                };
                list_prefix(client, bucket, prefix, opts, filter, &mut listing).await?;
            }
        }
        listing.objects.sort_by(|a, b| a.key.cmp(&b.key));
        listing.digests.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(listing)
    }

    /// Fetch one object's bytes, retrying transient failures with exponential backoff.
    pub async fn fetch(&self, obj: &SourceObject, max_bytes: u64) -> Result<Vec<u8>, SourceError> {
        Ok(self.fetch_object(obj, max_bytes, false).await?.0)
    }

    /// Fetch a digest file and the signature S3 keeps in its metadata (`x-amz-meta-signature`);
    /// from a local folder, the signature comes from `<file>.metadata.json` beside it.
    pub async fn fetch_signed(
        &self,
        obj: &SourceObject,
        max_bytes: u64,
    ) -> Result<(Vec<u8>, Option<String>), SourceError> {
        self.fetch_object(obj, max_bytes, true).await
    }

    /// One object's bytes (and, when `signed`, its signature), retrying transient S3 failures
    /// with exponential backoff. A missing object or one over the cap is an answer, not retried.
    async fn fetch_object(
        &self,
        obj: &SourceObject,
        max_bytes: u64,
        signed: bool,
    ) -> Result<(Vec<u8>, Option<String>), SourceError> {
        if obj.size > max_bytes {
            return Err(SourceError::TooLarge {
                uri: obj.uri.clone(),
                limit: max_bytes,
            });
        }
        match self {
            Source::Local { .. } => {
                let bytes = tokio::fs::read(&obj.uri).await.map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        SourceError::NotFound {
                            uri: obj.uri.clone(),
                        }
                    } else {
                        SourceError::Fetch {
                            uri: obj.uri.clone(),
                            message: e.to_string(),
                        }
                    }
                })?;
                if bytes.len() as u64 > max_bytes {
                    return Err(SourceError::TooLarge {
                        uri: obj.uri.clone(),
                        limit: max_bytes,
                    });
                }
                let signature = if signed {
                    let meta = format!("{}{}", obj.uri, crate::integrity::forge::METADATA_SUFFIX);
                    tokio::fs::read(&meta)
                        .await
                        .ok()
                        .and_then(|m| serde_json::from_slice::<serde_json::Value>(&m).ok())
                        .and_then(|v| v["signature"].as_str().map(str::to_string))
                } else {
                    None
                };
                Ok((bytes, signature))
            }
            Source::S3 { client, bucket, .. } => {
                const ATTEMPTS: u32 = 4;
                let mut delay = Duration::from_millis(200);
                let mut attempt = 1;
                loop {
                    match get_s3(client, bucket, obj, max_bytes).await {
                        Ok(got) => return Ok(got),
                        Err(e @ (SourceError::TooLarge { .. } | SourceError::NotFound { .. })) => {
                            return Err(e);
                        }
                        Err(e) if attempt < ATTEMPTS => {
                            warn!(uri = %obj.uri, attempt, error = %e, "Retrying object fetch.");
                            tokio::time::sleep(delay).await;
                            delay *= 2;
                            attempt += 1;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    /// The location a digest records for an object of this source (`bucket`, `key`): the S3
    /// bucket, or none for a local folder (a copy has no bucket; only keys are compared).
    pub fn bucket(&self) -> Option<&str> {
        match self {
            Source::Local { .. } => None,
            Source::S3 { bucket, .. } => Some(bucket),
        }
    }
}

/// How one folder is listed: with a delimiter (folders only), its page size, and where in the
/// folder it starts and stops (keys after `start_after`, before `stop_at`).
#[derive(Debug, Clone, Copy, Default)]
struct ListOptions<'a> {
    /// `/` to list the folders inside a folder instead of its keys.
    delimiter: Option<&'a str>,
    /// ListObjectsV2's `MaxKeys` (S3's default, 1,000, when `None`).
    page_size: Option<i32>,
    /// ListObjectsV2's `StartAfter`: S3 returns only keys after it (in byte order).
    start_after: Option<&'a str>,
    /// The first key not wanted: the listing stops at the page that reaches it.
    stop_at: Option<&'a str>,
}

/// List every key under `prefix` as `opts` say (pages followed), keeping what `filter` keeps.
/// With a `delimiter`, returns the folders (common prefixes) and keeps no object.
async fn list_prefix(
    client: &S3Client,
    bucket: &str,
    prefix: &str,
    opts: ListOptions<'_>,
    filter: &KeyFilter,
    listing: &mut Listing,
) -> Result<Vec<String>, SourceError> {
    let mut folders = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .set_delimiter(opts.delimiter.map(str::to_string))
        .set_max_keys(opts.page_size)
        .set_start_after(opts.start_after.map(str::to_string))
        .into_paginator()
        .send();
    let mut done = false;
    while !done && let Some(page) = pages.next().await {
        listing.list_requests += 1;
        let page = page.map_err(|e| SourceError::List {
            location: format!("s3://{bucket}/{prefix}"),
            message: error_chain(&e),
        })?;
        folders.extend(
            page.common_prefixes()
                .iter()
                .filter_map(|p| p.prefix().map(str::to_string)),
        );
        if opts.delimiter.is_some() {
            continue;
        }
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            if opts.stop_at.is_some_and(|stop| key >= stop) {
                done = true;
                break;
            }
            let obj = SourceObject {
                uri: format!("s3://{bucket}/{key}"),
                key: key.to_string(),
                version: o.e_tag().unwrap_or_default().trim_matches('"').to_string(),
                size: o.size().unwrap_or(0).max(0) as u64,
            };
            push_checked(listing, filter, obj);
        }
    }
    Ok(folders)
}

/// What one request of an incremental listing does (see `plan`).
enum Walk {
    /// A delimiter listing of a folder, to find the folders inside it.
    Descend(String),
    /// The keys of a Region folder delivered inside the date range.
    Region(String),
}

/// An incremental listing of `prefix`: the account/Region folders are found with delimiter
/// listings (organisation trails included), and each Region folder is listed once, from the first
/// date of `range` (ListObjectsV2's `StartAfter`: date folders sort as dates) up to its last, so
/// a folder costs one request plus a page per `page_size` keys in the range, whatever its history.
/// Up to `LIST_CONCURRENCY` requests are in flight at once, the folders of one level and the
/// Region listings of another overlapping: a scheduled run's listing is round trips, not bytes.
async fn list_window(
    client: &S3Client,
    bucket: &str,
    prefix: &str,
    filter: &KeyFilter,
    page_size: Option<i32>,
    range: plan::DateRange,
) -> Result<Listing, SourceError> {
    use futures::StreamExt;
    use futures::stream::FuturesUnordered;

    let start = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    };
    let first = range.from.format("%Y/%m/%d").to_string();
    let stop = (range.to + chrono::Duration::days(1))
        .format("%Y/%m/%d/")
        .to_string();
    let run = |walk: Walk| {
        let (first, stop) = (&first, &stop);
        async move {
            let mut part = Listing::default();
            let found = match &walk {
                Walk::Descend(p) => {
                    let opts = ListOptions {
                        delimiter: Some("/"),
                        ..Default::default()
                    };
                    list_prefix(client, bucket, p, opts, filter, &mut part).await?
                }
                Walk::Region(folder) => {
                    let start_after = format!("{folder}{first}");
                    let stop_at = format!("{folder}{stop}");
                    let opts = ListOptions {
                        page_size,
                        start_after: Some(&start_after),
                        stop_at: Some(&stop_at),
                        ..Default::default()
                    };
                    list_prefix(client, bucket, folder, opts, filter, &mut part).await?
                }
            };
            Ok::<_, SourceError>((part, found))
        }
    };
    let mut listing = Listing::default();
    let mut queue = Vec::new();
    push_walk(&mut queue, start, filter);
    let mut in_flight = FuturesUnordered::new();
    loop {
        while in_flight.len() < LIST_CONCURRENCY
            && let Some(walk) = queue.pop()
        {
            in_flight.push(run(walk));
        }
        let Some(done) = in_flight.next().await else {
            break;
        };
        let (part, found) = done?;
        listing.merge(part);
        for folder in found {
            push_walk(&mut queue, folder, filter);
        }
    }
    Ok(listing)
}

/// Queue what `folder` needs next (see `plan::step`).
fn push_walk(queue: &mut Vec<Walk>, folder: String, filter: &KeyFilter) {
    match plan::step(&folder, filter) {
        plan::Step::Descend => queue.push(Walk::Descend(folder)),
        plan::Step::Region => queue.push(Walk::Region(folder)),
        plan::Step::Skip => {}
    }
}

async fn get_s3(
    client: &S3Client,
    bucket: &str,
    obj: &SourceObject,
    max_bytes: u64,
) -> Result<(Vec<u8>, Option<String>), SourceError> {
    let fetch_err = |message: String| SourceError::Fetch {
        uri: obj.uri.clone(),
        message,
    };
    let resp = client
        .get_object()
        .bucket(bucket)
        .key(&obj.key)
        .send()
        .await
        .map_err(|e| {
            if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                SourceError::NotFound {
                    uri: obj.uri.clone(),
                }
            } else {
                fetch_err(error_chain(&e))
            }
        })?;
    let signature = resp.metadata().and_then(|m| m.get("signature").cloned());
    let mut body = resp.body;
    let mut buf = Vec::with_capacity(obj.size.min(max_bytes) as usize);
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| fetch_err(error_chain(&e)))?
    {
        if (buf.len() + chunk.len()) as u64 > max_bytes {
            return Err(SourceError::TooLarge {
                uri: obj.uri.clone(),
                limit: max_bytes,
            });
        }
        buf.extend_from_slice(&chunk);
    }
    if obj.size != 0 && buf.len() as u64 != obj.size {
        return Err(fetch_err(format!(
            "body has {} bytes, the listing said {}",
            buf.len(),
            obj.size
        )));
    }
    Ok((buf, signature))
}

fn push_checked(listing: &mut Listing, filter: &KeyFilter, obj: SourceObject) {
    match filter.check(&obj.key) {
        Ok(()) => listing.objects.push(obj),
        Err(reason) => {
            debug!(uri = %obj.uri, reason = reason.as_str(), "Skipping object.");
            *listing.skipped.entry(reason).or_default() += 1;
            if reason == SkipReason::Digest && filter.keeps_digest(&obj.key) {
                listing.digests.push(obj);
            }
        }
    }
}

fn walk_local(root: &Path) -> Result<Vec<SourceObject>, SourceError> {
    let list_err = |p: &Path, e: std::io::Error| SourceError::List {
        location: p.display().to_string(),
        message: e.to_string(),
    };
    let mut out = Vec::new();
    let meta = std::fs::metadata(root).map_err(|e| list_err(root, e))?;
    if meta.is_file() {
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A single file keeps its full path as key so the layout (and filters) still apply.
        let key = root.to_string_lossy().replace('\\', "/");
        let key = if key.contains("AWSLogs/") { key } else { name };
        out.push(local_object(root, key, &meta));
        return Ok(out);
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| list_err(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| list_err(&dir, e))?;
            let path = entry.path();
            let ft = entry.file_type().map_err(|e| list_err(&path, e))?;
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file() {
                let meta = entry.metadata().map_err(|e| list_err(&path, e))?;
                let rel = path.strip_prefix(root).unwrap_or(&path);
                let key = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push(local_object(&path, key, &meta));
            }
        }
    }
    Ok(out)
}

fn local_object(path: &Path, key: String, meta: &std::fs::Metadata) -> SourceObject {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    SourceObject {
        uri: path.display().to_string(),
        key,
        version: format!("{}-{}", meta.len(), mtime),
        size: meta.len(),
    }
}

/// Render an error with its whole source chain on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let msg = c.to_string();
        if !s.contains(&msg) {
            s.push_str(": ");
            s.push_str(&msg);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_uris_split_into_bucket_and_prefix() {
        assert_eq!(parse_s3_uri("s3://b").unwrap(), ("b".into(), "".into()));
        assert_eq!(
            parse_s3_uri("s3://b/p/q/").unwrap(),
            ("b".into(), "p/q/".into())
        );
        assert!(parse_s3_uri("s3:///x").is_err());
        assert!(parse_s3_uri("gs://b").is_err());
    }
}
