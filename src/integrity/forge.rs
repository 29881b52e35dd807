//! Write signed digests for a trail folder, the way CloudTrail does: the generator behind
//! `agenttrail synth --digests`, `agenttrail synth-digests`, sample-logs/ and the tests.
//!
//! One digest per hour, Region and account, from the first hour with a log file to the last
//! (hours without files get an empty digest, as CloudTrail's do), chained by `previous*` and
//! signed with RSA PKCS#1 v1.5 SHA-256 over CloudTrail's signing string. The signature goes where
//! S3 would keep it as object metadata: a local folder holds it in `<digest>.metadata.json`
//! (`{"signature": hex, "signature-algorithm": "SHA256withRSA"}`), which the S3 tests upload as
//! `x-amz-meta-*`. The key that signs is a test key, never one of CloudTrail's: a lake verified
//! with it proves nothing about real logs.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use chrono::{DateTime, Duration, DurationRound, Utc};

use super::digest::{Digest, LogFileEntry, log_file_time, sha256_hex};
use super::keys::{PublicKey, PublicKeys};

/// Suffix of the file holding a local digest's S3 metadata.
pub const METADATA_SUFFIX: &str = ".metadata.json";

/// A signing key.
pub struct Signer {
    pair: RsaKeyPair,
    /// The fingerprint digests carry (hex SHA-256 of the public key, first 16 bytes).
    pub fingerprint: String,
}

impl Signer {
    /// A fresh 2048-bit key.
    pub fn generate() -> Result<Signer, String> {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|e| e.to_string())?;
        Ok(Signer::from_pair(pair))
    }

    /// A key from PKCS#8 DER.
    pub fn from_pkcs8(der: &[u8]) -> Result<Signer, String> {
        let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| format!("not a PKCS#8 RSA key: {e}"))?;
        Ok(Signer::from_pair(pair))
    }

    fn from_pair(pair: RsaKeyPair) -> Signer {
        let fingerprint = sha256_hex(pair.public_key().as_ref())[..32].to_string();
        Signer { pair, fingerprint }
    }

    /// The private key as PKCS#8 DER (to keep a test key).
    pub fn pkcs8(&self) -> Result<Vec<u8>, String> {
        let der: Pkcs8V1Der<'static> = self.pair.as_der().map_err(|e| e.to_string())?;
        Ok(der.as_ref().to_vec())
    }

    /// The public key as a one-key set valid over `[from, to]`.
    pub fn public_keys(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> PublicKeys {
        PublicKeys {
            keys: vec![PublicKey {
                fingerprint: self.fingerprint.clone(),
                der: self.pair.public_key().as_ref().to_vec(),
                valid_from: Some(from),
                valid_to: Some(to),
            }],
        }
    }

    /// Sign `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig)
            .expect("RSA signing with a valid key");
        sig
    }
}

/// Where and under which trail the digests are written.
#[derive(Debug, Clone)]
pub struct TrailSpec {
    /// Bucket name recorded in the digests (`digestS3Bucket`, `logFiles[].s3Bucket`).
    pub bucket: String,
    /// Trail name.
    pub trail: String,
    /// The trail's home Region.
    pub home_region: String,
}

/// A digest as written: enough to chain the next one.
#[derive(Debug, Clone)]
pub struct Written {
    /// Key relative to the trail folder.
    pub key: String,
    /// Hex SHA-256 of its uncompressed bytes.
    pub sha256: String,
    /// Hex signature.
    pub signature: String,
}

/// Sign and write one digest under `root`. `base` is the key part before `/CloudTrail-Digest/`.
#[allow(clippy::too_many_arguments)]
pub fn write_digest(
    root: &Path,
    spec: &TrailSpec,
    signer: &Signer,
    base: &str,
    region: &str,
    end: DateTime<Utc>,
    files: &[String],
    previous: Option<&Written>,
    backfill: bool,
) -> Result<Written, String> {
    let account = base.rsplit('/').next().unwrap_or_default();
    let stamp = end.format("%Y%m%dT%H%M%SZ");
    let key = format!(
        "{base}/CloudTrail-Digest/{region}/{}/{account}_CloudTrail-Digest_{region}_{}_{}_{stamp}{}.json.gz",
        end.format("%Y/%m/%d"),
        spec.trail,
        spec.home_region,
        if backfill { "_backfill" } else { "" }
    );
    let iso = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut log_files = Vec::new();
    for f in files {
        let bytes = std::fs::read(root.join(f)).map_err(|e| format!("{f}: {e}"))?;
        let plain =
            crate::decode::gzip::gunzip_capped(&bytes, 1 << 30).map_err(|e| format!("{f}: {e}"))?;
        log_files.push(LogFileEntry {
            s3_bucket: spec.bucket.clone(),
            s3_object: f.clone(),
            hash_value: sha256_hex(&plain),
            hash_algorithm: Some("SHA-256".into()),
            oldest_event_time: None,
            newest_event_time: None,
        });
    }
    let digest = Digest {
        aws_account_id: Some(account.to_string()),
        digest_start_time: iso(end - Duration::hours(1)),
        digest_end_time: iso(end),
        digest_s3_bucket: spec.bucket.clone(),
        digest_s3_object: key.clone(),
        digest_public_key_fingerprint: signer.fingerprint.clone(),
        digest_signature_algorithm: "SHA256withRSA".into(),
        previous_digest_s3_bucket: previous.map(|_| spec.bucket.clone()),
        previous_digest_s3_object: previous.map(|p| p.key.clone()),
        previous_digest_hash_value: previous.map(|p| p.sha256.clone()),
        previous_digest_hash_algorithm: previous.map(|_| "SHA-256".into()),
        previous_digest_signature: previous.map(|p| p.signature.clone()),
        log_files,
    };
    let body = serde_json::to_vec(&digest).map_err(|e| e.to_string())?;
    let sha256 = sha256_hex(&body);
    let signature = hex::encode(signer.sign(digest.signing_string(&sha256).as_bytes()));
    let path = root.join(&key);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&body).map_err(|e| e.to_string())?;
    let gz = gz.finish().map_err(|e| e.to_string())?;
    std::fs::write(&path, gz).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut meta =
        serde_json::json!({"signature": signature, "signature-algorithm": "SHA256withRSA"});
    if backfill {
        meta["backfill-generation-timestamp"] = serde_json::json!(iso(end));
    }
    let meta_path = PathBuf::from(format!("{}{METADATA_SUFFIX}", path.display()));
    std::fs::write(&meta_path, meta.to_string())
        .map_err(|e| format!("{}: {e}", meta_path.display()))?;
    Ok(Written {
        key,
        sha256,
        signature,
    })
}

/// Write hourly digests for every account and Region of the trail folder `root`, and the public
/// key as `root/public-keys.json`. Returns the digests written.
pub fn write_digests(
    root: &Path,
    spec: &TrailSpec,
    signer: &Signer,
) -> Result<Vec<Written>, String> {
    // (base, region) -> hour -> files
    let mut groups: BTreeMap<(String, String), BTreeMap<DateTime<Utc>, Vec<String>>> =
        BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let p = e.map_err(|e| e.to_string())?.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let Some(at) = rel.find("/CloudTrail/") else {
                continue;
            };
            if !rel.ends_with(".json.gz") {
                continue;
            }
            let Some(k) = crate::source::key::parse_key(&rel) else {
                continue;
            };
            let Some(t) = log_file_time(&rel) else {
                continue;
            };
            let hour = t
                .duration_trunc(Duration::hours(1))
                .map_err(|e| e.to_string())?;
            groups
                .entry((rel[..at].to_string(), k.region))
                .or_default()
                .entry(hour)
                .or_default()
                .push(rel);
        }
    }
    let mut written = Vec::new();
    let (mut first, mut last) = (None::<DateTime<Utc>>, None::<DateTime<Utc>>);
    for ((base, region), hours) in &groups {
        let (Some(lo), Some(hi)) = (hours.keys().next(), hours.keys().next_back()) else {
            continue;
        };
        first = Some(first.map_or(*lo, |f| f.min(*lo)));
        last = Some(last.map_or(*hi, |l| l.max(*hi)));
        let mut previous: Option<Written> = None;
        let mut hour = *lo;
        while hour <= *hi {
            let mut files = hours.get(&hour).cloned().unwrap_or_default();
            files.sort();
            let w = write_digest(
                root,
                spec,
                signer,
                base,
                region,
                hour + Duration::hours(1),
                &files,
                previous.as_ref(),
                false,
            )?;
            written.push(w.clone());
            previous = Some(w);
            hour += Duration::hours(1);
        }
    }
    if let (Some(f), Some(l)) = (first, last) {
        let keys = signer.public_keys(f - Duration::days(30), l + Duration::days(365));
        std::fs::write(root.join("public-keys.json"), keys.to_json())
            .map_err(|e| format!("public-keys.json: {e}"))?;
    }
    Ok(written)
}
