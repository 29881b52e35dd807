//! Log-file integrity: prove that the CloudTrail files analysed are complete and untouched.
//!
//! An agent or attacker with write access to the trail bucket can delete or edit the files that
//! show what it did. CloudTrail signs an hourly digest per account, Region and trail naming every
//! log file it delivered, with the SHA-256 of its uncompressed bytes, chained to the previous
//! digest. We check, in the order `aws cloudtrail validate-logs` does:
//! 1. the digest parses and records the location it was read from (`digest-invalid`);
//! 2. its signing key is known (`key-unknown`) and the RSA signature over CloudTrail's signing
//!    string holds (`signature-invalid`);
//! 3. its chain: the previous digest it names exists (`digest-missing`) with the hash and
//!    signature it records (`digest-invalid`); a digest naming no previous one while older digests
//!    of its chain exist marks a `chain-gap` (logging or validation was off);
//! 4. each log file it names is present (`missing`) with the recorded hash (`modified`);
//! 5. log files no digest names, once the digest of the following hour has arrived
//!    (`not-in-digest`; a later backfill digest naming the file turns it `valid`).
//!
//! Unlike `validate-logs`, this runs on every scheduled run, keeps its results in the lake
//! (`integrity` table: a settled digest is not checked again), reuses the hashes ingest computed
//! (no second download of a file whose ETag has not changed), and feeds a detection and metrics.

pub mod check;
pub mod cloudtrail;
pub mod digest;
pub mod forge;
pub mod keys;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use chrono::{DateTime, Duration, DurationRound, Utc};

use crate::source::{Listing, Source, SourceError, SourceObject};
use digest::{Digest, DigestKey, log_file_time, parse_digest_key, sha256_hex};
use keys::{PublicKeys, verify_signature};

/// Largest digest or log file read for a check (decompressed).
const MAX_BYTES: u64 = 1 << 30;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// As CloudTrail delivered it.
    Valid,
    /// A log file a digest names is absent.
    Missing,
    /// A log file's hash differs from its digest's.
    Modified,
    /// A log file no digest names although the digest for its hour has arrived.
    NotInDigest,
    /// A digest named as previous by the next one is absent.
    DigestMissing,
    /// A digest starts a new chain while older digests exist (logging or validation was off).
    ChainGap,
    /// A digest that does not parse, was moved, or whose chain links do not match.
    DigestInvalid,
    /// The RSA signature does not verify.
    SignatureInvalid,
    /// No public key with the digest's fingerprint.
    KeyUnknown,
}

impl Status {
    /// Stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::Missing => "missing",
            Status::Modified => "modified",
            Status::NotInDigest => "not-in-digest",
            Status::DigestMissing => "digest-missing",
            Status::ChainGap => "chain-gap",
            Status::DigestInvalid => "digest-invalid",
            Status::SignatureInvalid => "signature-invalid",
            Status::KeyUnknown => "key-unknown",
        }
    }

    /// The CloudWatch metric that counts it (None for `valid`).
    pub fn metric(self) -> Option<&'static str> {
        match self {
            Status::Valid => None,
            Status::Missing => Some("LogFilesMissing"),
            Status::Modified | Status::NotInDigest => Some("LogFilesModified"),
            Status::DigestMissing | Status::ChainGap => Some("DigestChainGaps"),
            Status::DigestInvalid | Status::SignatureInvalid | Status::KeyUnknown => {
                Some("DigestsInvalid")
            }
        }
    }
}

/// The metrics every verification publishes (zero when nothing was found).
pub const METRICS: [&str; 4] = [
    "LogFilesMissing",
    "LogFilesModified",
    "DigestsInvalid",
    "DigestChainGaps",
];

/// One row of the `integrity` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The object checked.
    pub object: String,
    /// `log-file` or `digest`.
    pub kind: &'static str,
    /// Outcome.
    pub status: Status,
    /// The digest that named it or found the problem.
    pub digest: Option<String>,
    /// Account.
    pub account_id: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Recorded hash.
    pub expected_sha256: Option<String>,
    /// Hash as read.
    pub actual_sha256: Option<String>,
    /// In words.
    pub detail: String,
    /// End of the digest's hour.
    pub period_end: Option<DateTime<Utc>>,
}

/// What earlier runs settled, read from the lake's `integrity` table.
#[derive(Debug, Default, Clone)]
pub struct Prior {
    /// Digests checked for good (everything but `key-unknown`, which a new key can change).
    pub settled_digests: HashSet<String>,
    /// Log files some digest named.
    pub named: HashSet<String>,
    /// The hash a digest records for each named log file.
    pub expected: HashMap<String, String>,
    /// Latest status per object.
    pub latest: HashMap<String, String>,
}

impl Prior {
    /// From the rows of the `integrity` table (in any order; `checked_at` decides the latest).
    pub fn from_batches(batches: &[RecordBatch]) -> Prior {
        use arrow::array::{Array, AsArray};
        let mut prior = Prior::default();
        let mut latest_at: HashMap<String, i64> = HashMap::new();
        for b in batches {
            let col = |n: &str| b.column_by_name(n).map(|c| c.as_string::<i32>().clone());
            let (Some(object), Some(kind), Some(status), Some(digest), Some(expected)) = (
                col("object"),
                col("kind"),
                col("status"),
                col("digest"),
                col("expected_sha256"),
            ) else {
                continue;
            };
            let checked = b.column_by_name("checked_at").and_then(|c| {
                c.as_primitive_opt::<arrow::datatypes::TimestampMicrosecondType>()
                    .cloned()
            });
            for i in 0..b.num_rows() {
                let (o, k, s) = (object.value(i), kind.value(i), status.value(i));
                if k == "digest" && s != "key-unknown" && s != "digest-missing" {
                    prior.settled_digests.insert(o.to_string());
                }
                if k == "log-file" && !digest.is_null(i) {
                    prior.named.insert(o.to_string());
                    if !expected.is_null(i) {
                        prior
                            .expected
                            .insert(o.to_string(), expected.value(i).to_string());
                    }
                }
                let at = checked.as_ref().map_or(0, |c| c.value(i));
                if latest_at.get(o).is_none_or(|t| at >= *t) {
                    latest_at.insert(o.to_string(), at);
                    prior.latest.insert(o.to_string(), s.to_string());
                }
            }
        }
        prior
    }
}

/// The result of a verification.
#[derive(Debug, Default)]
pub struct Report {
    /// New rows (every check made by this run).
    pub rows: Vec<Row>,
    /// Digests checked by this run.
    pub digests_checked: u64,
    /// Digests skipped as settled by an earlier run.
    pub digests_settled: u64,
    /// Log files whose bytes had to be fetched (no usable hash from ingest).
    pub files_fetched: u64,
}

impl Report {
    /// Problems (rows not `valid`) by status.
    pub fn problems(&self) -> BTreeMap<&'static str, u64> {
        let mut m = BTreeMap::new();
        for r in self.rows.iter().filter(|r| r.status != Status::Valid) {
            *m.entry(r.status.as_str()).or_default() += 1;
        }
        m
    }

    /// Count per metric of `METRICS`.
    pub fn metric_counts(&self) -> Vec<(&'static str, u64)> {
        METRICS
            .iter()
            .map(|m| {
                let n = self
                    .rows
                    .iter()
                    .filter(|r| r.status.metric() == Some(m))
                    .count() as u64;
                (*m, n)
            })
            .collect()
    }

    /// One line for people.
    pub fn line(&self) -> String {
        let problems = self.problems();
        let detail = if problems.is_empty() {
            "no problems".to_string()
        } else {
            problems
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "digests: {} checked, {} settled earlier; log files fetched for hashing: {}; {detail}",
            self.digests_checked, self.digests_settled, self.files_fetched
        )
    }
}

/// A digest chain: base (prefix, org, account), Region, trail, backfill.
pub type ChainId = (String, String, String, bool);

/// What one check needs besides the listing.
pub struct Inputs<'a> {
    /// The trail.
    pub source: &'a Source,
    /// Keys by fingerprint.
    pub keys: &'a PublicKeys,
    /// Earlier results.
    pub prior: &'a Prior,
    /// Hashes ingest recorded: uri → (version, sha256).
    pub hashes: &'a HashMap<String, (String, String)>,
}

struct Loaded {
    bytes: Vec<u8>,
    sha256: String,
    signature: Option<String>,
}

/// Check every digest of `listing` not settled earlier, and the log files of the listing.
pub async fn verify(inputs: &Inputs<'_>, listing: &Listing) -> Result<Report, SourceError> {
    let mut report = Report::default();
    // Objects present, by key.
    let present: HashMap<&str, &SourceObject> = listing
        .objects
        .iter()
        .chain(listing.digests.iter())
        .map(|o| (o.key.as_str(), o))
        .collect();
    // Chains of digests, oldest first.
    let mut chains: BTreeMap<ChainId, Vec<(DigestKey, &SourceObject)>> = BTreeMap::new();
    for d in &listing.digests {
        if let Some(k) = parse_digest_key(&d.key) {
            chains.entry(k.chain()).or_default().push((k, d));
        }
    }
    for c in chains.values_mut() {
        c.sort_by(|a, b| a.0.end.cmp(&b.0.end).then(a.1.key.cmp(&b.1.key)));
    }
    // Log files named by any digest (earlier runs and this one), and the regular digests'
    // periods per (base, region), for `not-in-digest`.
    let mut named: HashSet<String> = inputs.prior.named.clone();
    let mut covered: HashMap<(String, String), Vec<DateTime<Utc>>> = HashMap::new();
    let mut cache: HashMap<String, Loaded> = HashMap::new();

    for chain in chains.values() {
        for (i, (key, obj)) in chain.iter().enumerate() {
            if !key.backfill {
                covered
                    .entry((key.base.clone(), key.region.clone()))
                    .or_default()
                    .push(key.end);
            }
            if inputs.prior.settled_digests.contains(&obj.uri) {
                report.digests_settled += 1;
                continue;
            }
            report.digests_checked += 1;
            let rows = check_digest(inputs, &present, chain, i, &mut cache, &mut report).await?;
            for r in &rows {
                if r.kind == "log-file" {
                    named.insert(r.object.clone());
                }
            }
            report.rows.extend(rows);
        }
    }

    // Files of settled digests that changed since: a new version (ETag) that ingest read and
    // hashed, no longer matching the digest. Caught without fetching the digest again.
    let checked_now: HashSet<&str> = report.rows.iter().map(|r| r.object.as_str()).collect();
    let mut changed = Vec::new();
    for obj in &listing.objects {
        let (Some(expected), Some((version, sha))) = (
            inputs.prior.expected.get(&obj.uri),
            inputs.hashes.get(&obj.uri),
        ) else {
            continue;
        };
        let was_valid = inputs.prior.latest.get(&obj.uri).map(String::as_str) == Some("valid");
        if *version == obj.version
            && was_valid
            && !checked_now.contains(obj.uri.as_str())
            && !sha.eq_ignore_ascii_case(expected)
        {
            let k = crate::source::key::parse_key(&obj.key);
            changed.push(Row {
                object: obj.uri.clone(),
                kind: "log-file",
                status: Status::Modified,
                digest: None,
                account_id: k.as_ref().map(|k| k.account.clone()),
                region: k.as_ref().map(|k| k.region.clone()),
                expected_sha256: Some(expected.clone()),
                actual_sha256: Some(sha.clone()),
                detail: "replaced after it was checked: the new version's hash differs from the one its digest records".into(),
                period_end: None,
            });
        }
    }
    report.rows.extend(changed);

    // Files that no digest names although the digest of the following hour has arrived.
    let now_named: HashSet<&str> = named.iter().map(String::as_str).collect();
    for obj in &listing.objects {
        let Some(at) = obj.key.find("/CloudTrail/") else {
            continue;
        };
        let (Some(t), Some(k)) = (
            log_file_time(&obj.key),
            crate::source::key::parse_key(&obj.key),
        ) else {
            continue;
        };
        if now_named.contains(obj.uri.as_str()) {
            // Named (a file reported earlier and named since by a backfill digest has a newer
            // `valid` row from that digest's check).
            continue;
        }
        let Ok(hour) = t.duration_trunc(Duration::hours(1)) else {
            continue;
        };
        let next_hour_end = hour + Duration::hours(2);
        let arrived = covered
            .get(&(obj.key[..at].to_string(), k.region.clone()))
            .is_some_and(|ends| ends.iter().any(|e| *e >= next_hour_end));
        if !arrived {
            continue;
        }
        if inputs.prior.latest.get(&obj.uri).map(String::as_str) == Some("not-in-digest") {
            continue; // already reported; it stays so until a digest names it
        }
        report.rows.push(Row {
            object: obj.uri.clone(),
            kind: "log-file",
            status: Status::NotInDigest,
            digest: None,
            account_id: Some(k.account.clone()),
            region: Some(k.region.clone()),
            expected_sha256: None,
            actual_sha256: None,
            detail: format!(
                "delivered at {} but named by no digest, although the digests up to {} have arrived: not written by CloudTrail, or its digest was lost",
                t.to_rfc3339(),
                next_hour_end.to_rfc3339()
            ),
            period_end: Some(hour + Duration::hours(1)),
        });
    }
    Ok(report)
}

async fn load(
    source: &Source,
    obj: &SourceObject,
    cache: &mut HashMap<String, Loaded>,
) -> Result<Result<(), String>, SourceError> {
    if cache.contains_key(&obj.uri) {
        return Ok(Ok(()));
    }
    let (gz, signature) = source.fetch_signed(obj, MAX_BYTES).await?;
    let bytes = match crate::decode::gzip::gunzip_capped(&gz, MAX_BYTES) {
        Ok(b) => b,
        Err(e) => return Ok(Err(e.to_string())),
    };
    cache.insert(
        obj.uri.clone(),
        Loaded {
            sha256: sha256_hex(&bytes),
            bytes,
            signature,
        },
    );
    Ok(Ok(()))
}

/// The key of a location of this source (the inverse of `uri_of`).
fn key_of<'a>(source: &Source, uri: &'a str) -> Option<&'a str> {
    match source {
        Source::Local { root } => uri
            .strip_prefix(&root.display().to_string())
            .map(|k| k.trim_start_matches('/')),
        Source::S3 { bucket, .. } => uri.strip_prefix(&format!("s3://{bucket}/")),
    }
}

/// The location of a key of this source, as the rows name it.
fn uri_of(source: &Source, key: &str) -> String {
    match source {
        Source::Local { root } => root.join(key).display().to_string(),
        Source::S3 { bucket, .. } => format!("s3://{bucket}/{key}"),
    }
}

async fn check_digest(
    inputs: &Inputs<'_>,
    present: &HashMap<&str, &SourceObject>,
    chain: &[(DigestKey, &SourceObject)],
    index: usize,
    cache: &mut HashMap<String, Loaded>,
    report: &mut Report,
) -> Result<Vec<Row>, SourceError> {
    let source = inputs.source;
    let (key, obj) = &chain[index];
    let row = |status: Status, detail: String| Row {
        object: obj.uri.clone(),
        kind: "digest",
        status,
        digest: Some(obj.uri.clone()),
        account_id: Some(key.account.clone()),
        region: Some(key.region.clone()),
        expected_sha256: None,
        actual_sha256: None,
        detail,
        period_end: Some(key.end),
    };
    let mut rows = Vec::new();
    if let Err(e) = load(source, obj, cache).await? {
        return Ok(vec![row(Status::DigestInvalid, format!("unreadable: {e}"))]);
    }
    let loaded = &cache[&obj.uri];
    let digest = match Digest::parse(&loaded.bytes) {
        Ok(d) => d,
        Err(e) => return Ok(vec![row(Status::DigestInvalid, e)]),
    };
    let (own_sha, own_sig) = (loaded.sha256.clone(), loaded.signature.clone());
    // 1. Where it says it was delivered.
    let bucket_ok = source.bucket().is_none_or(|b| b == digest.digest_s3_bucket);
    if !bucket_ok || digest.digest_s3_object != obj.key {
        rows.push(row(
            Status::DigestInvalid,
            format!(
                "records its location as {}/{}, but was read from {}",
                digest.digest_s3_bucket, digest.digest_s3_object, obj.uri
            ),
        ));
    }
    // 2. Key and signature.
    match inputs.keys.find(&digest.digest_public_key_fingerprint) {
        None => rows.push(row(
            Status::KeyUnknown,
            format!(
                "no public key with fingerprint {} (give --public-keys, or allow cloudtrail:ListPublicKeys)",
                digest.digest_public_key_fingerprint
            ),
        )),
        Some(pk) => {
            let sig = own_sig.as_deref().and_then(|s| hex::decode(s.trim()).ok());
            match sig {
                None => rows.push(row(
                    Status::SignatureInvalid,
                    "no signature in the object's metadata (x-amz-meta-signature)".into(),
                )),
                Some(sig) => {
                    let message = digest.signing_string(&own_sha);
                    if !verify_signature(pk, message.as_bytes(), &sig) {
                        rows.push(row(
                            Status::SignatureInvalid,
                            format!(
                                "the signature does not verify with key {}: the digest or its signature was altered",
                                pk.fingerprint
                            ),
                        ));
                    }
                }
            }
        }
    }
    // 3. The chain. Older digests of the chain: in this listing, or settled by earlier checks
    // (a scheduled run lists only recent delivery dates).
    let earlier = if index > 0 {
        Some(chain[index - 1].0.end)
    } else {
        inputs
            .prior
            .settled_digests
            .iter()
            .filter_map(|u| key_of(source, u))
            .filter_map(parse_digest_key)
            .filter(|k| k.chain() == key.chain() && k.end < key.end)
            .map(|k| k.end)
            .max()
    };
    // A previous digest outside the listing (its date was not listed) is looked up directly.
    let outside = match digest.previous_digest_s3_object.as_deref() {
        Some(prev_key) if !present.contains_key(prev_key) => {
            let obj = SourceObject {
                uri: uri_of(source, prev_key),
                key: prev_key.to_string(),
                version: String::new(),
                size: 0,
            };
            match load(source, &obj, cache).await {
                Ok(_) => Some(obj),
                Err(SourceError::NotFound { .. }) => None,
                Err(e) => return Err(e),
            }
        }
        _ => None,
    };
    match digest.previous_digest_s3_object.as_deref() {
        None if earlier.is_some() => {
            rows.push(row(
                Status::ChainGap,
                format!(
                    "starts a new chain although the digest for {} exists: logging or log file validation was off in between",
                    earlier.map(|e| e.to_rfc3339()).unwrap_or_default()
                ),
            ));
        }
        None => {}
        Some(prev_key) => match present.get(prev_key).copied().or(outside.as_ref()) {
            None => rows.push(Row {
                object: uri_of(source, prev_key),
                kind: "digest",
                status: Status::DigestMissing,
                digest: Some(obj.uri.clone()),
                account_id: Some(key.account.clone()),
                region: Some(key.region.clone()),
                expected_sha256: digest.previous_digest_hash_value.clone(),
                actual_sha256: None,
                detail: format!("named as previous by {} but absent", obj.key),
                period_end: None,
            }),
            Some(prev) => {
                if let Err(e) = load(source, prev, cache).await? {
                    rows.push(row(
                        Status::DigestInvalid,
                        format!("its previous digest {} is unreadable: {e}", prev.key),
                    ));
                } else {
                    let p = &cache[&prev.uri];
                    if digest.previous_digest_hash_value.as_deref() != Some(p.sha256.as_str()) {
                        rows.push(row(
                            Status::DigestInvalid,
                            format!(
                                "records the previous digest's hash as {}, but {} hashes to {}",
                                digest
                                    .previous_digest_hash_value
                                    .as_deref()
                                    .unwrap_or("null"),
                                prev.key,
                                p.sha256
                            ),
                        ));
                    } else if digest.previous_digest_signature.as_deref() != p.signature.as_deref()
                    {
                        rows.push(row(
                            Status::DigestInvalid,
                            format!(
                                "records a previous signature that differs from {}'s",
                                prev.key
                            ),
                        ));
                    }
                }
            }
        },
    }
    if !rows
        .iter()
        .any(|r| r.kind == "digest" && r.object == obj.uri)
    {
        rows.push(row(
            Status::Valid,
            format!("signed, chained, {} log files", digest.log_files.len()),
        ));
    }
    // 4. The log files it names.
    for f in &digest.log_files {
        let uri = uri_of(source, &f.s3_object);
        let base = Row {
            object: uri.clone(),
            kind: "log-file",
            status: Status::Valid,
            digest: Some(obj.uri.clone()),
            account_id: Some(key.account.clone()),
            region: Some(key.region.clone()),
            expected_sha256: Some(f.hash_value.clone()),
            actual_sha256: None,
            detail: String::new(),
            period_end: Some(key.end),
        };
        let wrong_bucket = source.bucket().is_some_and(|b| b != f.s3_bucket);
        let Some(file) = present.get(f.s3_object.as_str()).filter(|_| !wrong_bucket) else {
            rows.push(Row {
                status: Status::Missing,
                detail: format!("named by {} but absent from the trail", obj.key),
                ..base
            });
            continue;
        };
        let actual = match inputs.hashes.get(&file.uri) {
            Some((version, sha)) if *version == file.version => sha.clone(),
            _ => {
                report.files_fetched += 1;
                let gz = source.fetch(file, MAX_BYTES).await?;
                match crate::decode::gzip::gunzip_capped(&gz, MAX_BYTES) {
                    Ok(b) => sha256_hex(&b),
                    Err(e) => format!("unreadable ({e})"),
                }
            }
        };
        if actual.eq_ignore_ascii_case(&f.hash_value) {
            rows.push(Row {
                actual_sha256: Some(actual),
                detail: "hash matches".into(),
                ..base
            });
        } else {
            rows.push(Row {
                status: Status::Modified,
                detail: format!(
                    "hash differs from the one {} records: the file was changed after delivery",
                    obj.key
                ),
                actual_sha256: Some(actual),
                ..base
            });
        }
    }
    Ok(rows)
}

/// The rows as one batch of the `integrity` table.
pub fn rows_batch(rows: &[Row], checked_at: DateTime<Utc>) -> RecordBatch {
    let s = |f: &dyn Fn(&Row) -> Option<String>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let ts = |v: Vec<Option<i64>>| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"))
    };
    let columns: Vec<ArrayRef> = vec![
        s(&|r| Some(r.object.clone())),
        s(&|r| Some(r.kind.to_string())),
        s(&|r| Some(r.status.as_str().to_string())),
        s(&|r| r.digest.clone()),
        s(&|r| r.account_id.clone()),
        s(&|r| r.region.clone()),
        s(&|r| r.expected_sha256.clone()),
        s(&|r| r.actual_sha256.clone()),
        s(&|r| Some(r.detail.clone())),
        ts(rows
            .iter()
            .map(|r| r.period_end.map(|t| t.timestamp_micros()))
            .collect()),
        ts(vec![Some(checked_at.timestamp_micros()); rows.len()]),
    ];
    RecordBatch::try_new(crate::schema::integrity_schema(), columns)
        .expect("integrity rows match the integrity schema")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: Status) -> Row {
        Row {
            object: "o".into(),
            kind: "log-file",
            status,
            digest: None,
            account_id: None,
            region: None,
            expected_sha256: None,
            actual_sha256: None,
            detail: String::new(),
            period_end: None,
        }
    }

    #[test]
    fn every_problem_counts_in_exactly_one_metric_and_valid_in_none() {
        let all = [
            Status::Valid,
            Status::Missing,
            Status::Modified,
            Status::NotInDigest,
            Status::DigestMissing,
            Status::ChainGap,
            Status::DigestInvalid,
            Status::SignatureInvalid,
            Status::KeyUnknown,
        ];
        let report = Report {
            rows: all.iter().map(|s| row(*s)).collect(),
            ..Default::default()
        };
        let counts: BTreeMap<&str, u64> = report.metric_counts().into_iter().collect();
        assert_eq!(
            counts,
            [
                ("DigestChainGaps", 2),
                ("DigestsInvalid", 3),
                ("LogFilesMissing", 1),
                ("LogFilesModified", 2),
            ]
            .into()
        );
        assert_eq!(report.problems().values().sum::<u64>(), 8);
        assert_eq!(
            rows_batch(&report.rows, Utc::now()).num_rows(),
            all.len(),
            "every row fits the integrity schema"
        );
    }
}
