//! Listing that only looks where new objects can be.
//!
//! CloudTrail writes `[prefix/]AWSLogs/[o-id/]<account>/<kind>/<region>/<YYYY>/<MM>/<DD>/`, where
//! the date is the *delivery* date. A scheduled run therefore needs only the delivery dates since
//! the last one: it discovers the account/Region prefixes with delimiter listings (a few requests,
//! organisation trails included, `--account`/`--region` applied while descending), then lists the
//! date folders from the latest delivery date already in the ledger minus a look-back (default 2
//! days: clocks, and files CloudTrail writes just after midnight) up to tomorrow (UTC). Date
//! folders sort as dates, so each Region folder is one listing that starts after the window's
//! first date (`StartAfter`) and stops at the first key past its last: one request per folder
//! plus a page per 1,000 keys in the window, however many days the window spans. The ledger
//! stays the truth inside that window: a file delivered late into an older folder of the window is
//! listed and read like any other. `--full-scan` lists everything (for a periodic catch-up), and
//! `--since/--until` bound the dates listed, not only the keys kept.

use chrono::{Duration, NaiveDate};

use super::key::KeyFilter;

/// Default look-back before the latest ingested delivery date, in days.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 2;

/// Which delivery dates a listing covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    /// First delivery date listed.
    pub from: NaiveDate,
    /// Last delivery date listed.
    pub to: NaiveDate,
}

impl DateRange {
    /// Every date of the range.
    pub fn dates(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.from.iter_days().take_while(|d| *d <= self.to)
    }
}

/// The dates to list, or None for a full listing: from the latest ingested delivery date minus
/// `lookback_days` (or `--since`) up to tomorrow (or `--until`). A first run with no `--since`
/// lists everything.
pub fn date_range(
    latest_ingested: Option<NaiveDate>,
    lookback_days: u32,
    filter: &KeyFilter,
    today: NaiveDate,
) -> Option<DateRange> {
    let from = match (latest_ingested, filter.since) {
        (Some(l), Some(s)) => (l - Duration::days(i64::from(lookback_days))).max(s),
        (Some(l), None) => l - Duration::days(i64::from(lookback_days)),
        (None, Some(s)) => s,
        (None, None) => return None,
    };
    let to = filter
        .until
        .unwrap_or(today + Duration::days(1))
        .min(today + Duration::days(1));
    Some(DateRange {
        from,
        to: to.max(from),
    })
}

/// Where a delimiter listing can go next from `prefix` (a folder ending in `/`): descend into it,
/// keep it as a Region folder (whose date folders are listed), or leave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Look inside.
    Descend,
    /// `…/<kind>/<region>/`: list its date folders.
    Region,
    /// Not where CloudTrail writes (or filtered out).
    Skip,
}

/// Decide a folder's step from its key prefix. Folders before `AWSLogs/` are descended to a
/// depth of 4 (the user's prefix may be anything).
pub fn step(prefix: &str, filter: &KeyFilter) -> Step {
    let Some(at) = prefix.rfind("AWSLogs/") else {
        return if prefix.matches('/').count() <= 4 {
            Step::Descend
        } else {
            Step::Skip
        };
    };
    let parts: Vec<&str> = prefix[at + "AWSLogs/".len()..]
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let parts: &[&str] = match parts.first() {
        Some(p) if p.starts_with("o-") => &parts[1..],
        _ => &parts,
    };
    match parts {
        [] => Step::Descend,
        [account] => {
            let ok = account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && (filter.accounts.is_empty() || filter.accounts.iter().any(|a| a == account));
            if ok { Step::Descend } else { Step::Skip }
        }
        [_, kind] => {
            if matches!(
                *kind,
                "CloudTrail" | "CloudTrail-Insight" | "CloudTrail-Digest"
            ) {
                Step::Descend
            } else {
                Step::Skip
            }
        }
        [_, _, region] => {
            if filter.regions.is_empty() || filter.regions.iter().any(|r| r == region) {
                Step::Region
            } else {
                Step::Skip
            }
        }
        _ => Step::Skip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_range_starts_a_look_back_before_the_last_delivery_and_ends_tomorrow() {
        let none = KeyFilter::default();
        let today = d("2026-12-01");
        assert_eq!(
            date_range(None, 2, &none, today),
            None,
            "first run: full listing"
        );
        let r = date_range(Some(d("2026-11-30")), 2, &none, today).unwrap();
        assert_eq!((r.from, r.to), (d("2026-11-28"), d("2026-12-02")));
        assert_eq!(r.dates().count(), 5);
        let since = KeyFilter {
            since: Some(d("2026-11-29")),
            until: Some(d("2026-11-29")),
            ..Default::default()
        };
        let r = date_range(Some(d("2026-11-30")), 2, &since, today).unwrap();
        assert_eq!((r.from, r.to), (d("2026-11-29"), d("2026-11-29")));
        let r = date_range(None, 2, &since, today).unwrap();
        assert_eq!(r.dates().collect::<Vec<_>>(), vec![d("2026-11-29")]);
    }

    #[test]
    fn descent_follows_cloudtrails_layout_and_the_filters() {
        let f = KeyFilter {
            accounts: vec!["111122223333".into()],
            regions: vec!["eu-west-1".into()],
            ..Default::default()
        };
        let none = KeyFilter::default();
        assert_eq!(step("", &none), Step::Descend);
        assert_eq!(step("logs/", &none), Step::Descend);
        assert_eq!(step("logs/AWSLogs/", &none), Step::Descend);
        assert_eq!(step("AWSLogs/o-abc123/", &none), Step::Descend);
        assert_eq!(step("AWSLogs/o-abc123/111122223333/", &f), Step::Descend);
        assert_eq!(step("AWSLogs/444455556666/", &f), Step::Skip);
        assert_eq!(step("AWSLogs/111122223333/CloudTrail/", &f), Step::Descend);
        assert_eq!(step("AWSLogs/111122223333/Config/", &f), Step::Skip);
        assert_eq!(
            step("AWSLogs/111122223333/CloudTrail/eu-west-1/", &f),
            Step::Region
        );
        assert_eq!(
            step("AWSLogs/111122223333/CloudTrail/us-east-1/", &f),
            Step::Skip
        );
        assert_eq!(
            step("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/", &none),
            Step::Region
        );
        assert_eq!(step("a/b/c/d/e/f/", &none), Step::Skip);
    }
}
