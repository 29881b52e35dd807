//! One writer at a time on an S3 lake: a lease object taken with S3 conditional writes.
//!
//! The local `flock` only keeps apart processes of one machine. A scheduled job on ECS Fargate
//! starts a fresh machine every time, so a run that outlasts its interval would overlap the next
//! one on the same S3 lake. The lease is `<lake>/_lease.json`, holding the run id, the host and
//! an expiry:
//! - no lease object: create it with `If-None-Match: *` (S3 answers 412 to all but one racer);
//! - a lease released or past its expiry: replace it with `If-Match: <the ETag we read>`, so of
//!   two runs taking over a stale lease only one wins;
//! - a live lease: refuse, naming the holder and the expiry.
//!
//! While held, a background task renews the expiry every third of the lease time (again with
//! `If-Match`); release writes a released lease (also with `If-Match`). Nothing is ever deleted,
//! so the job needs no `s3:DeleteObject`. A run that dies leaves a lease that expires by itself
//! (default 30 minutes; `AGENTTRAIL_LEASE_SECONDS`). Expiry is judged by the clocks of the
//! machines (NTP-synchronised on AWS); the lease time is far above any skew.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::Client as S3Client;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::SinkError;
use crate::source::error_chain;

/// Default lease time.
pub const DEFAULT_LEASE_SECONDS: u64 = 1800;

/// What the lease object holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeaseBody {
    /// The run holding it (`logging::run_id`).
    pub run_id: String,
    /// The host it runs on.
    pub host: String,
    /// When it was taken (RFC 3339).
    pub acquired: String,
    /// When it lapses unless renewed (RFC 3339).
    pub expires: String,
    /// True once the holder released it.
    #[serde(default)]
    pub released: bool,
}

/// A held lease; call [`Lease::release`] when done (dropping it only stops the renewals, and
/// the lease then lapses at its expiry).
#[derive(Debug)]
pub struct Lease {
    client: S3Client,
    bucket: String,
    key: String,
    etag: Arc<Mutex<String>>,
    body: LeaseBody,
    renewer: tokio::task::JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

fn lease_seconds() -> u64 {
    std::env::var(crate::env_vars::LEASE_SECONDS)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|s| *s >= 3)
        .unwrap_or(DEFAULT_LEASE_SECONDS)
}

fn host() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// When a lease lapses; an unreadable time counts as lapsed (the lease is then replaced).
fn expiry(lease: &LeaseBody) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&lease.expires)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Outcome of a conditional PUT.
enum Put {
    Done(String),
    Lost,
}

async fn put(
    client: &S3Client,
    bucket: &str,
    key: &str,
    body: &LeaseBody,
    if_match: Option<&str>,
) -> Result<Put, SinkError> {
    let json = serde_json::to_vec(body).expect("a lease serialises");
    let mut req = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/json")
        .body(ByteStream::from(json));
    req = match if_match {
        Some(etag) => req.if_match(etag),
        None => req.if_none_match("*"),
    };
    match req.send().await {
        Ok(out) => Ok(Put::Done(out.e_tag().unwrap_or_default().to_string())),
        Err(e) => {
            let status = e.raw_response().map(|r| r.status().as_u16());
            // 412: another writer changed the lease first. 409: a concurrent conditional write
            // (S3 may answer that). 404 on If-Match: the object vanished; someone else's turn.
            if matches!(status, Some(412 | 409 | 404)) {
                Ok(Put::Lost)
            } else {
                Err(SinkError::Write {
                    path: format!("s3://{bucket}/{key}"),
                    message: error_chain(&e),
                })
            }
        }
    }
}

/// Take the lease at `s3://bucket/key`, or fail with [`SinkError::Leased`].
pub async fn acquire(client: &S3Client, bucket: &str, key: &str) -> Result<Lease, SinkError> {
    let uri = format!("s3://{bucket}/{key}");
    let ttl = lease_seconds();
    let now = Utc::now();
    let body = LeaseBody {
        run_id: crate::logging::run_id().to_string(),
        host: host(),
        acquired: now.to_rfc3339(),
        expires: (now + chrono::Duration::seconds(ttl as i64)).to_rfc3339(),
        released: false,
    };
    let current = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let etag = out.e_tag().unwrap_or_default().to_string();
            let bytes = out
                .body
                .collect()
                .await
                .map_err(|e| SinkError::Write {
                    path: uri.clone(),
                    message: error_chain(&e),
                })?
                .into_bytes();
            Some((etag, serde_json::from_slice::<LeaseBody>(&bytes)))
        }
        Err(e) if super::remote::is_absent(&e) => None,
        Err(e) => {
            return Err(SinkError::Write {
                path: uri,
                message: error_chain(&e),
            });
        }
    };
    let if_match = match &current {
        None => None,
        Some((_, Ok(held))) if !held.released && expiry(held) > now => {
            return Err(SinkError::Leased {
                lake: uri,
                holder: format!("{} on {}", held.run_id, held.host),
                expires: held.expires.clone(),
            });
        }
        Some((etag, Ok(held))) => {
            if !held.released {
                tracing::warn!(lease = %uri, holder = %held.run_id, expired = %held.expires,
                    "Taking over a lease its holder did not release (the run died or hung).");
            }
            Some(etag.clone())
        }
        Some((etag, Err(e))) => {
            tracing::warn!(lease = %uri, error = %e, "Replacing an unreadable lease object.");
            Some(etag.clone())
        }
    };
    let etag = match put(client, bucket, key, &body, if_match.as_deref()).await? {
        Put::Done(etag) => etag,
        Put::Lost => {
            return Err(SinkError::Leased {
                lake: uri,
                holder: "another run that took it at the same moment".into(),
                expires: "its lease time".into(),
            });
        }
    };
    tracing::debug!(lease = %uri, expires = %body.expires, "Lease taken.");
    let etag = Arc::new(Mutex::new(etag));
    let renewer = tokio::spawn(renew(
        client.clone(),
        bucket.to_string(),
        key.to_string(),
        etag.clone(),
        body.clone(),
        ttl,
    ));
    Ok(Lease {
        client: client.clone(),
        bucket: bucket.to_string(),
        key: key.to_string(),
        etag,
        body,
        renewer,
    })
}

async fn renew(
    client: S3Client,
    bucket: String,
    key: String,
    etag: Arc<Mutex<String>>,
    mut body: LeaseBody,
    ttl: u64,
) {
    loop {
        tokio::time::sleep(Duration::from_secs(ttl / 3)).await;
        let mut tag = etag.lock().await;
        body.expires = (Utc::now() + chrono::Duration::seconds(ttl as i64)).to_rfc3339();
        match put(&client, &bucket, &key, &body, Some(tag.as_str())).await {
            Ok(Put::Done(new)) => *tag = new,
            Ok(Put::Lost) => {
                tracing::error!(lease = %format!("s3://{bucket}/{key}"),
                    "The lake's lease was taken over by another run: this run outlived its lease.");
                return;
            }
            // A failed renewal is retried at the next tick; the lease time allows two misses.
            Err(e) => tracing::warn!(error = %e, "Could not renew the lake's lease."),
        }
    }
}

impl Lease {
    /// Give the lease back (the next run takes it at once instead of waiting for the expiry).
    pub async fn release(self) -> Result<(), SinkError> {
        self.renewer.abort();
        let tag = self.etag.lock().await.clone();
        let body = LeaseBody {
            released: true,
            expires: Utc::now().to_rfc3339(),
            ..self.body.clone()
        };
        match put(&self.client, &self.bucket, &self.key, &body, Some(&tag)).await? {
            Put::Done(_) => Ok(()),
            Put::Lost => {
                tracing::warn!(lease = %format!("s3://{}/{}", self.bucket, self.key),
                    "The lease had already been taken over when this run released it.");
                Ok(())
            }
        }
    }
}
