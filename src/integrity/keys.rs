//! CloudTrail's public keys and the RSA check of a digest signature.
//!
//! Keys come as `aws cloudtrail list-public-keys` prints them (`{"PublicKeyList": [{"Value":
//! base64 DER, "ValidityStartTime", "ValidityEndTime", "Fingerprint"}]}`): from a file given with
//! `--public-keys` (air-gapped use, tests), or fetched with ListPublicKeys and cached in the lake
//! under `_integrity/public-keys.json` in the same shape. A digest names its key by fingerprint;
//! a fingerprint we do not hold is `key-unknown`, never a silent pass. `Value` is DER, either a
//! PKCS#1 `RSAPublicKey` or an X.509 `SubjectPublicKeyInfo`; both are accepted.

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One public key.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicKey {
    /// Fingerprint digests name the key by.
    pub fingerprint: String,
    /// PKCS#1 `RSAPublicKey` DER.
    pub der: Vec<u8>,
    /// Validity start, when known.
    pub valid_from: Option<DateTime<Utc>>,
    /// Validity end, when known.
    pub valid_to: Option<DateTime<Utc>>,
}

impl PublicKey {
    /// Whether the key was valid at `t` (an unknown bound counts as open; two hours of slack
    /// for rotation, as `validate-logs` allows).
    pub fn covers(&self, t: DateTime<Utc>) -> bool {
        let slack = chrono::Duration::hours(2);
        self.valid_from.is_none_or(|f| t + slack >= f)
            && self.valid_to.is_none_or(|e| t <= e + slack)
    }
}

/// A set of keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublicKeys {
    /// The keys, in file order.
    pub keys: Vec<PublicKey>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyFile {
    public_key_list: Vec<KeyEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyEntry {
    value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    validity_start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    validity_end_time: Option<String>,
    fingerprint: String,
}

fn parse_time(s: &Option<String>) -> Option<DateTime<Utc>> {
    let s = s.as_deref()?;
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            s.parse::<f64>()
                .ok()
                .and_then(|secs| DateTime::from_timestamp(secs as i64, 0))
        })
}

impl PublicKeys {
    /// Read the `list-public-keys` JSON shape.
    pub fn from_json(text: &str) -> Result<PublicKeys, String> {
        let file: KeyFile = serde_json::from_str(text)
            .map_err(|e| format!("not a ListPublicKeys document: {e}"))?;
        let mut keys = Vec::new();
        for (i, k) in file.public_key_list.into_iter().enumerate() {
            let der = base64::engine::general_purpose::STANDARD
                .decode(k.value.trim())
                .map_err(|e| format!("key {i} ({}): Value is not base64: {e}", k.fingerprint))?;
            keys.push(PublicKey {
                fingerprint: k.fingerprint.clone(),
                der: rsa_public_key(&der)
                    .map_err(|e| format!("key {i} ({}): {e}", k.fingerprint))?,
                valid_from: parse_time(&k.validity_start_time),
                valid_to: parse_time(&k.validity_end_time),
            });
        }
        Ok(PublicKeys { keys })
    }

    /// Write the same shape (the lake's key cache).
    pub fn to_json(&self) -> String {
        let file = KeyFile {
            public_key_list: self
                .keys
                .iter()
                .map(|k| KeyEntry {
                    value: base64::engine::general_purpose::STANDARD.encode(&k.der),
                    validity_start_time: k.valid_from.map(|t| t.to_rfc3339()),
                    validity_end_time: k.valid_to.map(|t| t.to_rfc3339()),
                    fingerprint: k.fingerprint.clone(),
                })
                .collect(),
        };
        serde_json::to_string_pretty(&file).expect("keys serialise")
    }

    /// The key with this fingerprint.
    pub fn find(&self, fingerprint: &str) -> Option<&PublicKey> {
        self.keys
            .iter()
            .find(|k| k.fingerprint.eq_ignore_ascii_case(fingerprint))
    }

    /// Add keys not held yet (by fingerprint). Returns how many were new.
    pub fn merge(&mut self, other: PublicKeys) -> usize {
        let mut added = 0;
        for k in other.keys {
            if self.find(&k.fingerprint).is_none() {
                self.keys.push(k);
                added += 1;
            }
        }
        added
    }
}

/// Reduce an X.509 `SubjectPublicKeyInfo` to its PKCS#1 `RSAPublicKey`; a PKCS#1 key passes.
///
/// SPKI = SEQUENCE { SEQUENCE { OID rsaEncryption, NULL }, BIT STRING { 0x00, RSAPublicKey } };
/// RSAPublicKey = SEQUENCE { INTEGER n, INTEGER e }. We tell them apart by the first element of
/// the outer SEQUENCE: a SEQUENCE (SPKI) or an INTEGER (PKCS#1).
pub fn rsa_public_key(der: &[u8]) -> Result<Vec<u8>, String> {
    let (tag, outer, _) = tlv(der).ok_or("not DER")?;
    if tag != 0x30 {
        return Err("not a DER SEQUENCE".into());
    }
    let (first, _, after_first) = tlv(outer).ok_or("truncated DER")?;
    match first {
        0x02 => Ok(der.to_vec()),
        0x30 => {
            let (bits_tag, bits, _) = tlv(after_first).ok_or("truncated SubjectPublicKeyInfo")?;
            if bits_tag != 0x03 || bits.first() != Some(&0) {
                return Err("SubjectPublicKeyInfo without a key BIT STRING".into());
            }
            Ok(bits[1..].to_vec())
        }
        t => Err(format!("unexpected DER element 0x{t:02x}")),
    }
}

/// One DER element: (tag, contents, the bytes after it).
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)? as usize;
    let (len, start) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = start.checked_add(len)?;
    Some((tag, b.get(start..end)?, b.get(end..)?))
}

/// Whether `signature` is a valid RSA PKCS#1 v1.5 SHA-256 signature of `message` by `key`.
pub fn verify_signature(key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &key.der)
        .verify(message, signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_and_bad_input_do_not_panic() {
        assert!(rsa_public_key(&[]).is_err());
        assert!(rsa_public_key(&[0x30, 0x82, 0xff]).is_err());
        assert!(rsa_public_key(&[0x30, 0x03, 0x02, 0x01, 0x05]).is_ok());
        assert!(PublicKeys::from_json("{}").is_err());
        assert!(
            PublicKeys::from_json(r#"{"PublicKeyList":[{"Value":"!!","Fingerprint":"f"}]}"#)
                .is_err()
        );
    }
}
