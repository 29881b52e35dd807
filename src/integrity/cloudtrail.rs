//! CloudTrail's public keys from AWS: `ListPublicKeys` in the Region of each digest.
//!
//! Called only for Regions with digests to check whose end time no held key's validity window
//! covers, so once the lake's cache holds the Region's current key a run makes no call at all.
//! Needs `cloudtrail:ListPublicKeys`; without it (or offline) the digests stay `key-unknown`
//! and a warning says why. Local sources never call AWS: their keys come from files.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::keys::{PublicKey, PublicKeys, rsa_public_key};

/// Fetch the keys valid in `[from - 2h, to + 2h]` (key rotation) in `region`.
pub async fn list_public_keys(
    region: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<PublicKeys, String> {
    let shared = crate::aws::sdk_config().await;
    let conf = aws_sdk_cloudtrail::config::Builder::from(&shared)
        .region(aws_sdk_cloudtrail::config::Region::new(region.to_string()))
        .build();
    let ct = aws_sdk_cloudtrail::Client::from_conf(conf);
    let secs =
        |t: DateTime<Utc>| aws_sdk_cloudtrail::primitives::DateTime::from_secs(t.timestamp());
    let mut req = ct
        .list_public_keys()
        .start_time(secs(from - Duration::hours(2)))
        .end_time(secs(to + Duration::hours(2)));
    let mut fetched = PublicKeys::default();
    loop {
        let out = req
            .clone()
            .send()
            .await
            .map_err(|e| crate::source::error_chain(&e))?;
        for k in out.public_key_list() {
            let (Some(value), Some(fp)) = (k.value(), k.fingerprint()) else {
                continue;
            };
            let Ok(der) = rsa_public_key(value.as_ref()) else {
                tracing::warn!(
                    fingerprint = fp,
                    "Skipping a public key that is not RSA DER."
                );
                continue;
            };
            let t = |d: Option<&aws_sdk_cloudtrail::primitives::DateTime>| {
                d.and_then(|d| DateTime::from_timestamp(d.secs(), 0))
            };
            fetched.keys.push(PublicKey {
                fingerprint: fp.to_string(),
                der,
                valid_from: t(k.validity_start_time()),
                valid_to: t(k.validity_end_time()),
            });
        }
        match out.next_token() {
            Some(tok) => req = req.next_token(tok),
            None => return Ok(fetched),
        }
    }
}

/// Add AWS's keys for the Regions whose digest end times (`needed`) no held key covers.
/// Returns how many keys were added.
pub async fn fill_missing(
    keys: &mut PublicKeys,
    needed: &BTreeMap<String, Vec<DateTime<Utc>>>,
) -> usize {
    let mut added = 0;
    for (region, ends) in needed {
        let uncovered: Vec<DateTime<Utc>> = ends
            .iter()
            .copied()
            .filter(|t| !keys.keys.iter().any(|k| k.covers(*t)))
            .collect();
        let (Some(lo), Some(hi)) = (uncovered.iter().min(), uncovered.iter().max()) else {
            continue;
        };
        match list_public_keys(region, *lo, *hi).await {
            Ok(found) => added += keys.merge(found),
            Err(e) => tracing::warn!(region = %region, error = %e,
                "CloudTrail ListPublicKeys failed: digests signed by a key we lack stay key-unknown (--public-keys gives keys offline)."),
        }
    }
    added
}
