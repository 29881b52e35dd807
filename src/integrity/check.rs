//! One integrity check against the lake: read what earlier checks settled, verify, commit the
//! rows. The rows are committed like any other lake data (one Delta commit: files written whole,
//! then named by the table's log), so a crash mid-check leaves nothing half-written and the next run redoes it.

use std::collections::HashMap;
use std::path::Path;

use arrow::array::RecordBatch;

use super::keys::PublicKeys;
use super::{Inputs, Prior, Report, rows_batch, verify};
use crate::sink::{Lake, PendingCommit, SinkError};
use crate::source::{KeyFilter, Source, SourceError};

/// Where the lake caches CloudTrail's public keys (ListPublicKeys shape).
pub const KEY_CACHE: &str = "_integrity/public-keys.json";

/// Errors of an integrity check.
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    /// Listing or reading the trail failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Reading or writing the lake failed.
    #[error(transparent)]
    Lake(#[from] SinkError),
    /// A key file is unusable.
    #[error("{path}: {message}")]
    Keys {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

/// The `integrity` rows of the lake.
pub async fn read_rows(lake: &Lake) -> Result<Vec<RecordBatch>, SinkError> {
    lake.read_table("integrity").await
}

/// Keys for a check: the given file, else the lake's cache, else `public-keys.json` at the root
/// of a local source (a copied trail can carry the keys `aws cloudtrail list-public-keys`
/// printed). Keys found in a file are added to the lake's cache.
pub async fn public_keys(
    file: Option<&Path>,
    source: &Source,
    lake: Option<&Lake>,
) -> Result<PublicKeys, IntegrityError> {
    let read = |p: &Path| -> Result<Option<PublicKeys>, IntegrityError> {
        match std::fs::read_to_string(p) {
            Ok(text) => {
                PublicKeys::from_json(&text)
                    .map(Some)
                    .map_err(|message| IntegrityError::Keys {
                        path: p.display().to_string(),
                        message,
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(IntegrityError::Keys {
                path: p.display().to_string(),
                message: e.to_string(),
            }),
        }
    };
    let mut keys = PublicKeys::default();
    if let Some(lake) = lake {
        let cached = lake
            .read_state(KEY_CACHE)
            .await?
            .and_then(|b| String::from_utf8(b).ok());
        if let Some(text) = cached {
            match PublicKeys::from_json(&text) {
                Ok(k) => keys = k,
                Err(e) => tracing::warn!(error = %e, "Ignoring an unreadable public-key cache."),
            }
        }
    }
    let mut found = None;
    if let Some(f) = file {
        found = Some(read(f)?.ok_or_else(|| IntegrityError::Keys {
            path: f.display().to_string(),
            message: "no such file".into(),
        })?);
    } else if let Source::Local { root } = source
        && root.is_dir()
    {
        found = read(&root.join("public-keys.json"))?;
    }
    if let Some(more) = found
        && keys.merge(more) > 0
        && let Some(lake) = lake
    {
        lake.write_state(KEY_CACHE, keys.to_json().into_bytes())
            .await?;
    }
    Ok(keys)
}

/// Check the digests of `source` (as `filter` selects them) and commit the rows to `lake`,
/// stamped `checked_at`. Without a lake, nothing is settled beforehand and nothing is kept.
pub async fn check(
    source: &Source,
    lake: Option<&Lake>,
    filter: &KeyFilter,
    keys: &PublicKeys,
    page_size: Option<i32>,
    checked_at: chrono::DateTime<chrono::Utc>,
) -> Result<Report, IntegrityError> {
    let listing = source.list(filter, page_size).await?;
    check_listing(source, lake, &listing, keys, checked_at).await
}

/// [`check`] over a listing already made (ingest's: the trail is listed once per run).
pub async fn check_listing(
    source: &Source,
    lake: Option<&Lake>,
    listing: &crate::source::Listing,
    keys: &PublicKeys,
    checked_at: chrono::DateTime<chrono::Utc>,
) -> Result<Report, IntegrityError> {
    let mut keys = keys.clone();
    let (prior, hashes) = match lake {
        Some(lake) => {
            let rows = read_rows(lake).await?;
            let ledger = lake.ledger().await?;
            let hashes: HashMap<String, (String, String)> = ledger
                .hashes()
                .into_iter()
                .map(|(u, (v, h))| (u.to_string(), (v.to_string(), h.to_string())))
                .collect();
            (Prior::from_batches(&rows), hashes)
        }
        None => (Prior::default(), HashMap::new()),
    };
    // CloudTrail's keys for the Regions of digests to check that no held key covers (S3
    // trails only: a local copy brings its keys in a file).
    if matches!(source, Source::S3 { .. }) {
        let mut needed: std::collections::BTreeMap<String, Vec<chrono::DateTime<chrono::Utc>>> =
            Default::default();
        for d in &listing.digests {
            if prior.settled_digests.contains(&d.uri) {
                continue;
            }
            if let Some(k) = super::digest::parse_digest_key(&d.key) {
                needed.entry(k.region).or_default().push(k.end);
            }
        }
        if super::cloudtrail::fill_missing(&mut keys, &needed).await > 0
            && let Some(lake) = lake
        {
            lake.write_state(KEY_CACHE, keys.to_json().into_bytes())
                .await?;
        }
    }
    let inputs = Inputs {
        source,
        keys: &keys,
        prior: &prior,
        hashes: &hashes,
    };
    let report = verify(&inputs, listing).await?;
    if let Some(lake) = lake
        && !report.rows.is_empty()
    {
        let mut pending = PendingCommit::default();
        pending.add_rows("integrity", rows_batch(&report.rows, checked_at));
        crate::ingest::commit(lake, pending).await?;
    }
    Ok(report)
}
