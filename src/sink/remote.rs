//! The S3 side of a lake besides its Delta tables: small state files and the scheduled run's lease.
//!
//! The tables themselves are read and written in place by delta-rs (`delta`). The scheduled job's
//! state (`_publish_pending.json`, `_full_scan`, the digest key cache) is one object each,
//! replaced whole by one PUT. `run` and `verify` take the lease of `lease` so that two scheduled
//! runs do not publish the same window at once; `ingest` needs no lease (Delta commits are safe
//! with several writers).

use aws_sdk_s3::Client as S3Client;
use aws_sdk_s3::primitives::ByteStream;

use super::SinkError;
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
