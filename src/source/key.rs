//! Parse CloudTrail object keys and decide, from the key alone, whether an object is read.
//!
//! CloudTrail delivers to
//! `[prefix/]AWSLogs/[o-orgid/]<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/<file>.json.gz`.
//! Insights files live under `CloudTrail-Insight/` and are read; digest files live under
//! `CloudTrail-Digest/` and are skipped until integrity checking uses them. Filters on account,
//! region and date are applied here, before any GET, so a narrow run costs one LIST.
//!
//! The date in the key is the *delivery* date (UTC), which can be a day later than the events in
//! the file. Filters therefore select objects, never records: dropping records of an object that
//! the ledger then marks as ingested would lose them for good.

use chrono::NaiveDate;

/// What kind of CloudTrail object a key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A management/data event log file (`CloudTrail/`).
    Log,
    /// A CloudTrail Insights file (`CloudTrail-Insight/`).
    Insight,
    /// A digest file (`CloudTrail-Digest/`): skipped.
    Digest,
}

/// The fields CloudTrail encodes in an object key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey {
    /// Organization id for organization trails (`o-xxxx`), if present.
    pub org_id: Option<String>,
    /// The 12-digit account the log belongs to.
    pub account: String,
    /// Log, Insight or Digest.
    pub kind: ObjectKind,
    /// Region the file covers.
    pub region: String,
    /// Delivery date from the key.
    pub date: NaiveDate,
}

/// Parse a key (or a relative local path with `/` separators) in the CloudTrail layout.
/// Returns `None` when the key does not follow it.
pub fn parse_key(key: &str) -> Option<ObjectKey> {
    let start = key.rfind("AWSLogs/")?;
    let mut parts = key[start + "AWSLogs/".len()..].split('/');
    let mut first = parts.next()?;
    let org_id = if first.starts_with("o-") {
        let org = first.to_string();
        first = parts.next()?;
        Some(org)
    } else {
        None
    };
    if first.len() != 12 || !first.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let kind = match parts.next()? {
        "CloudTrail" => ObjectKind::Log,
        "CloudTrail-Insight" => ObjectKind::Insight,
        "CloudTrail-Digest" => ObjectKind::Digest,
        _ => return None,
    };
    let region = parts.next()?;
    if region.is_empty() {
        return None;
    }
    let y: i32 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    let date = NaiveDate::from_ymd_opt(y, m, d)?;
    let file = parts.next()?;
    if file.is_empty() || parts.next().is_some() {
        return None;
    }
    Some(ObjectKey {
        org_id,
        account: first.to_string(),
        kind,
        region: region.to_string(),
        date,
    })
}

/// Object selection applied from keys before any GET.
#[derive(Debug, Clone, Default)]
pub struct KeyFilter {
    /// Only these accounts (empty = all).
    pub accounts: Vec<String>,
    /// Only these regions (empty = all).
    pub regions: Vec<String>,
    /// Only objects delivered on or after this date.
    pub since: Option<NaiveDate>,
    /// Only objects delivered on or before this date.
    pub until: Option<NaiveDate>,
}

/// Why a listed object is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// A `CloudTrail-Digest/` file.
    Digest,
    /// Not a `.json.gz` object.
    NotJsonGz,
    /// Excluded by `--account`, `--region`, `--since` or `--until`.
    Filtered,
    /// Not in CloudTrail's key layout while a key filter is set, so the filter cannot apply.
    UnknownLayout,
}

impl SkipReason {
    /// Stable label used in logs and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Digest => "digest",
            SkipReason::NotJsonGz => "not-json-gz",
            SkipReason::Filtered => "filtered",
            SkipReason::UnknownLayout => "unknown-layout",
        }
    }
}

impl KeyFilter {
    fn is_empty(&self) -> bool {
        self.accounts.is_empty()
            && self.regions.is_empty()
            && self.since.is_none()
            && self.until.is_none()
    }

    /// Whether `key` is a digest file (`CloudTrail-Digest/…json.gz`) the filter keeps: digests
    /// are not ingested, but integrity checking reads those of the accounts, Regions and dates
    /// selected.
    pub fn keeps_digest(&self, key: &str) -> bool {
        let Some(k) = parse_key(key) else {
            return false;
        };
        k.kind == ObjectKind::Digest
            && key.ends_with(".json.gz")
            && (self.accounts.is_empty() || self.accounts.contains(&k.account))
            && (self.regions.is_empty() || self.regions.contains(&k.region))
            && self.since.is_none_or(|s| k.date >= s)
            && self.until.is_none_or(|u| k.date <= u)
    }

    /// Decide from the key alone whether the object is read; `Err` says why not.
    ///
    /// A `.json.gz` key outside CloudTrail's layout is read when no filter is set (logs copied
    /// into a flat folder are still logs), and skipped when one is, since the filter cannot be
    /// checked.
    pub fn check(&self, key: &str) -> Result<(), SkipReason> {
        let parsed = parse_key(key);
        if !key.ends_with(".json.gz") {
            return Err(SkipReason::NotJsonGz);
        }
        if matches!(&parsed, Some(k) if k.kind == ObjectKind::Digest)
            || key.contains("/CloudTrail-Digest/")
        {
            return Err(SkipReason::Digest);
        }
        let Some(k) = parsed else {
            return if self.is_empty() {
                Ok(())
            } else {
                Err(SkipReason::UnknownLayout)
            };
        };
        let account_ok = self.accounts.is_empty() || self.accounts.contains(&k.account);
        let region_ok = self.regions.is_empty() || self.regions.contains(&k.region);
        let since_ok = self.since.is_none_or(|s| k.date >= s);
        let until_ok = self.until.is_none_or(|u| k.date <= u);
        if account_ok && region_ok && since_ok && until_ok {
            Ok(())
        } else {
            Err(SkipReason::Filtered)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// (account, org id, kind, region, date) expected from a key.
    type Parsed<'a> = (&'a str, Option<&'a str>, ObjectKind, &'a str, &'a str);

    #[test]
    fn parses_the_layouts_cloudtrail_delivers() {
        let cases: &[(&str, Option<Parsed>)] = &[
            (
                "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/111122223333_CloudTrail_us-east-1_20261120T1405Z_abc.json.gz",
                Some((
                    "111122223333",
                    None,
                    ObjectKind::Log,
                    "us-east-1",
                    "2026-11-20",
                )),
            ),
            (
                "trails/prod/AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/2026/01/02/x.json.gz",
                Some((
                    "111122223333",
                    Some("o-abc123"),
                    ObjectKind::Log,
                    "eu-west-1",
                    "2026-01-02",
                )),
            ),
            (
                "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/20/d.json.gz",
                Some((
                    "111122223333",
                    None,
                    ObjectKind::Digest,
                    "us-east-1",
                    "2026-11-20",
                )),
            ),
            (
                "AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2026/11/20/i.json.gz",
                Some((
                    "111122223333",
                    None,
                    ObjectKind::Insight,
                    "us-east-1",
                    "2026-11-20",
                )),
            ),
            (
                "AWSLogs/1111/CloudTrail/us-east-1/2026/11/20/x.json.gz",
                None,
            ),
            (
                "AWSLogs/111122223333/CloudTrail/us-east-1/2026/13/20/x.json.gz",
                None,
            ),
            (
                "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/",
                None,
            ),
            (
                "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/a/b.json.gz",
                None,
            ),
            ("random/file.json.gz", None),
            ("", None),
        ];
        for (key, want) in cases {
            let got = parse_key(key);
            match want {
                None => assert_eq!(got, None, "{key}"),
                Some((acct, org, kind, region, date)) => {
                    let got = got.unwrap_or_else(|| panic!("{key} did not parse"));
                    assert_eq!(got.account, *acct, "{key}");
                    assert_eq!(got.org_id.as_deref(), *org, "{key}");
                    assert_eq!(got.kind, *kind, "{key}");
                    assert_eq!(got.region, *region, "{key}");
                    assert_eq!(got.date, d(date), "{key}");
                }
            }
        }
    }

    #[test]
    fn filters_apply_from_the_key() {
        let key = "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/11/02/f.json.gz";
        let none = KeyFilter::default();
        assert_eq!(none.check(key), Ok(()));
        let f = |a: &[&str], r: &[&str], s: Option<&str>, u: Option<&str>| KeyFilter {
            accounts: a.iter().map(|x| x.to_string()).collect(),
            regions: r.iter().map(|x| x.to_string()).collect(),
            since: s.map(d),
            until: u.map(d),
        };
        assert_eq!(f(&["111122223333"], &[], None, None).check(key), Ok(()));
        assert_eq!(
            f(&["999999999999"], &[], None, None).check(key),
            Err(SkipReason::Filtered)
        );
        assert_eq!(f(&[], &["eu-west-1"], None, None).check(key), Ok(()));
        assert_eq!(
            f(&[], &["us-east-1"], None, None).check(key),
            Err(SkipReason::Filtered)
        );
        assert_eq!(
            f(&[], &[], Some("2026-11-02"), Some("2026-11-02")).check(key),
            Ok(())
        );
        assert_eq!(
            f(&[], &[], Some("2026-11-03"), None).check(key),
            Err(SkipReason::Filtered)
        );
        assert_eq!(
            f(&[], &[], None, Some("2026-11-01")).check(key),
            Err(SkipReason::Filtered)
        );
    }

    #[test]
    fn digests_and_other_keys_are_skipped() {
        let none = KeyFilter::default();
        assert_eq!(
            none.check("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/11/20/d.json.gz"),
            Err(SkipReason::Digest)
        );
        assert_eq!(
            none.check("AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/20/x.json"),
            Err(SkipReason::NotJsonGz)
        );
        assert_eq!(none.check("flat/file.json.gz"), Ok(()));
        let some = KeyFilter {
            regions: vec!["us-east-1".into()],
            ..Default::default()
        };
        assert_eq!(
            some.check("flat/file.json.gz"),
            Err(SkipReason::UnknownLayout)
        );
    }
}
