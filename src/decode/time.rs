//! CloudTrail timestamps.
//!
//! `eventTime` is documented as ISO-8601 UTC (`2026-11-20T14:05:22Z`), but published records also
//! use a space instead of `T`, fractional seconds (up to nanoseconds) and no `Z`; all of those are
//! read as UTC. Explicit offsets (`+02:00`) are honoured. Anything else is a reject.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

/// Parse an event timestamp into UTC, or `None` when it is not a timestamp.
pub fn parse_event_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.len() < 19 {
        return None;
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    let naive = s.strip_suffix('Z').unwrap_or(s);
    const FORMATS: &[&str] = &["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"];
    FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(naive, f).ok())
        .map(|n| Utc.from_utc_datetime(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_shapes_published_records_use() {
        let cases = [
            ("2026-11-20T14:05:22Z", Some("2026-11-20T14:05:22+00:00")),
            (
                "2026-11-20T14:05:22.123Z",
                Some("2026-11-20T14:05:22.123+00:00"),
            ),
            ("2026-11-20 14:05:22", Some("2026-11-20T14:05:22+00:00")),
            ("2026-11-20 14:05:22Z", Some("2026-11-20T14:05:22+00:00")),
            (
                "2026-11-20 14:05:22.123456789",
                Some("2026-11-20T14:05:22.123456789+00:00"),
            ),
            (
                "2026-11-20T16:05:22+02:00",
                Some("2026-11-20T14:05:22+00:00"),
            ),
            ("ThisIsAWrongEventTime", None),
            ("...", None),
            ("2026-13-20T14:05:22Z", None),
            ("", None),
        ];
        for (input, want) in cases {
            let got = parse_event_time(input).map(|t| t.to_rfc3339());
            assert_eq!(got.as_deref(), want, "{input}");
        }
    }
}
