//! CloudTrail digest files: their key layout and their JSON body.
//!
//! Key: `[prefix/]AWSLogs/[o-id/]<acct>/CloudTrail-Digest/<region>/<YYYY>/<MM>/<DD>/
//! <acct>_CloudTrail-Digest_<region>_<trail>_<homeRegion>_<YYYYMMDDTHHmmssZ>[_backfill].json.gz`.
//! Trail names may hold `_`, so the name is read from both ends. The body is read leniently
//! (unknown fields ignored, `previous*` null on the first digest of a chain) but every field the
//! check relies on must be there, or the digest is `digest-invalid` with the reason.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a digest key says.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DigestKey {
    /// Everything before `CloudTrail-Digest/` (prefix, `AWSLogs/`, org id, account).
    pub base: String,
    /// Account the digest covers.
    pub account: String,
    /// Region of the logs it covers.
    pub region: String,
    /// Trail name.
    pub trail: String,
    /// The trail's home Region.
    pub home_region: String,
    /// End of the covered period (from the name).
    pub end: DateTime<Utc>,
    /// A backfill digest (names files that missed their hour; its own chain).
    pub backfill: bool,
}

impl DigestKey {
    /// The chain this digest belongs to: one per account, Region, trail and kind.
    pub fn chain(&self) -> super::ChainId {
        (
            self.base.clone(),
            self.region.clone(),
            self.trail.clone(),
            self.backfill,
        )
    }
}

/// Parse a digest key; None when it is not one.
pub fn parse_digest_key(key: &str) -> Option<DigestKey> {
    let at = key.find("/CloudTrail-Digest/")?;
    let base = key[..at].to_string();
    let account = base.rsplit('/').next()?.to_string();
    let file = key.rsplit('/').next()?;
    let stem = file.strip_suffix(".json.gz")?;
    let (stem, backfill) = match stem.strip_suffix("_backfill") {
        Some(s) => (s, true),
        None => (stem, false),
    };
    let rest = stem.strip_prefix(&format!("{account}_CloudTrail-Digest_"))?;
    let (rest, stamp) = rest.rsplit_once('_')?;
    let (rest, home_region) = rest.rsplit_once('_')?;
    let (region, trail) = rest.split_once('_')?;
    let end = NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ")
        .ok()?
        .and_utc();
    if region.is_empty() || trail.is_empty() || home_region.is_empty() {
        return None;
    }
    Some(DigestKey {
        base,
        account,
        region: region.to_string(),
        trail: trail.to_string(),
        home_region: home_region.to_string(),
        end,
        backfill,
    })
}

/// The delivery time CloudTrail writes into a log file's name (`…_20261120T1520Z_xxxx.json.gz`).
pub fn log_file_time(key: &str) -> Option<DateTime<Utc>> {
    let file = key.rsplit('/').next()?;
    file.split('_').find_map(|part| {
        (part.len() == 14 && part.ends_with('Z') && part.as_bytes().get(8) == Some(&b'T'))
            .then(|| NaiveDateTime::parse_from_str(part, "%Y%m%dT%H%MZ").ok())
            .flatten()
            .map(|t| t.and_utc())
    })
}

/// A digest file's body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    /// Account of the trail owner.
    #[serde(default)]
    pub aws_account_id: Option<String>,
    /// Start of the covered hour (ISO-8601).
    pub digest_start_time: String,
    /// End of the covered hour; the first line of the signed string.
    pub digest_end_time: String,
    /// Bucket the digest was delivered to.
    pub digest_s3_bucket: String,
    /// Key the digest was delivered to.
    pub digest_s3_object: String,
    /// Fingerprint of the signing key.
    pub digest_public_key_fingerprint: String,
    /// `SHA256withRSA`.
    pub digest_signature_algorithm: String,
    /// Previous digest's bucket (null at the start of a chain).
    #[serde(default)]
    pub previous_digest_s3_bucket: Option<String>,
    /// Previous digest's key.
    #[serde(default)]
    pub previous_digest_s3_object: Option<String>,
    /// Hex SHA-256 of the previous digest's uncompressed bytes.
    #[serde(default)]
    pub previous_digest_hash_value: Option<String>,
    /// `SHA-256`.
    #[serde(default)]
    pub previous_digest_hash_algorithm: Option<String>,
    /// The previous digest's signature (hex).
    #[serde(default)]
    pub previous_digest_signature: Option<String>,
    /// The log files delivered in the hour (empty for an hour without activity).
    #[serde(default)]
    pub log_files: Vec<LogFileEntry>,
}

/// One log file named by a digest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LogFileEntry {
    /// Bucket.
    pub s3_bucket: String,
    /// Key.
    pub s3_object: String,
    /// Hex SHA-256 of the uncompressed bytes.
    pub hash_value: String,
    /// `SHA-256`.
    #[serde(default)]
    pub hash_algorithm: Option<String>,
    /// Oldest event in the file.
    #[serde(default)]
    pub oldest_event_time: Option<String>,
    /// Newest event in the file.
    #[serde(default)]
    pub newest_event_time: Option<String>,
}

impl Digest {
    /// Parse the uncompressed JSON of a digest.
    pub fn parse(bytes: &[u8]) -> Result<Digest, String> {
        let d: Digest = serde_json::from_slice(bytes).map_err(|e| format!("not a digest: {e}"))?;
        if d.digest_signature_algorithm != "SHA256withRSA" {
            return Err(format!(
                "unsupported signature algorithm {:?}",
                d.digest_signature_algorithm
            ));
        }
        for f in &d.log_files {
            if f.hash_algorithm.as_deref().is_some_and(|a| a != "SHA-256") {
                return Err(format!(
                    "unsupported hash algorithm {:?} for {}",
                    f.hash_algorithm, f.s3_object
                ));
            }
        }
        Ok(d)
    }

    /// The string CloudTrail signs (no trailing newline).
    pub fn signing_string(&self, digest_sha256_hex: &str) -> String {
        format!(
            "{}\n{}/{}\n{}\n{}",
            self.digest_end_time,
            self.digest_s3_bucket,
            self.digest_s3_object,
            digest_sha256_hex,
            self.previous_digest_signature.as_deref().unwrap_or("null")
        )
    }
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_keys_are_read_from_both_ends() {
        let k = parse_digest_key(
            "logs/AWSLogs/o-abc123/111122223333/CloudTrail-Digest/eu-west-1/2026/11/20/111122223333_CloudTrail-Digest_eu-west-1_my_org_trail_us-east-1_20261120T160000Z.json.gz",
        )
        .unwrap();
        assert_eq!(k.base, "logs/AWSLogs/o-abc123/111122223333");
        assert_eq!(k.account, "111122223333");
        assert_eq!(k.region, "eu-west-1");
        assert_eq!(k.trail, "my_org_trail");
        assert_eq!(k.home_region, "us-east-1");
        assert_eq!(k.end.to_rfc3339(), "2026-11-20T16:00:00+00:00");
        assert!(!k.backfill);
        let b = parse_digest_key(
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/21/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20261121T020000Z_backfill.json.gz",
        )
        .unwrap();
        assert!(b.backfill);
        assert_ne!(b.chain(), k.chain());
        for bad in [
            "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/x.json.gz",
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/20/other.json.gz",
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/20/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_2026.json.gz",
        ] {
            assert_eq!(parse_digest_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn log_file_times_come_from_the_name() {
        let t = log_file_time(
            "AWSLogs/1/CloudTrail/eu-west-1/2026/11/20/111122223333_CloudTrail_eu-west-1_20261120T1520Z_rFwp1x1nPMWC4cTy.json.gz",
        )
        .unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-20T15:20:00+00:00");
        assert_eq!(log_file_time("x/y.json.gz"), None);
    }

    #[test]
    fn the_signing_string_has_four_lines_and_no_trailing_newline() {
        let d = Digest::parse(br#"{"digestStartTime":"2026-11-20T15:00:00Z","digestEndTime":"2026-11-20T16:00:00Z","digestS3Bucket":"b","digestS3Object":"k","digestPublicKeyFingerprint":"f","digestSignatureAlgorithm":"SHA256withRSA","logFiles":[]}"#).unwrap();
        assert_eq!(
            d.signing_string("abc"),
            "2026-11-20T16:00:00Z\nb/k\nabc\nnull"
        );
        assert!(Digest::parse(b"{}").is_err());
        assert!(Digest::parse(br#"{"digestStartTime":"a","digestEndTime":"b","digestS3Bucket":"b","digestS3Object":"k","digestPublicKeyFingerprint":"f","digestSignatureAlgorithm":"SHA1withRSA"}"#).is_err());
    }
}
