//! What agenttrail takes as "now": the real clock, or the instant in `AGENTTRAIL_NOW`.
//!
//! Why: relative windows (`--since 1h`, `--window 24h`), the bucket `run` publishes when nothing
//! new arrived, and the age past which CloudWatch refuses a datum (14 days) all depend on the
//! current time. Replaying an old day of logs as a run would have seen it then (an incident looked
//! at again, the bundled sample logs, the tests that publish them) needs that time fixed.
//!
//! Only that evaluation time moves. Leases, ledger and commit timestamps, and the dates ingest
//! lists keep the real clock: a fixed one would let a lease never expire, and listing up to the
//! real today only ever lists more.

use chrono::{DateTime, Utc};

use crate::env_vars;

/// `AGENTTRAIL_NOW` holds something that is not an RFC 3339 instant.
#[derive(Debug, thiserror::Error)]
#[error("{var}={value:?} is not an RFC 3339 instant such as 2026-11-21T00:00:00Z: {reason}")]
pub struct ClockError {
    var: &'static str,
    value: String,
    reason: chrono::ParseError,
}

/// The evaluation time: `AGENTTRAIL_NOW` when set and not empty, else the real clock.
pub fn now() -> Result<DateTime<Utc>, ClockError> {
    match std::env::var(env_vars::NOW) {
        Ok(v) if !v.trim().is_empty() => parse(&v),
        _ => Ok(Utc::now()),
    }
}

/// `value` as an instant in UTC.
fn parse(value: &str) -> Result<DateTime<Utc>, ClockError> {
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|reason| ClockError {
            var: env_vars::NOW,
            value: value.to_string(),
            reason,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instant_with_any_offset_is_taken_in_utc_and_anything_else_is_named() {
        assert_eq!(
            parse("2026-11-21T01:30:00+01:00").unwrap().to_rfc3339(),
            "2026-11-21T00:30:00+00:00"
        );
        let e = parse("yesterday").unwrap_err().to_string();
        assert!(
            e.starts_with("AGENTTRAIL_NOW=\"yesterday\" is not an RFC 3339 instant"),
            "{e}"
        );
    }
}
