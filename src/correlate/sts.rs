//! Read one STS `AssumeRole*` / `GetFederationToken` event into the session it created.
//!
//! Tag shapes differ by API and all are accepted: `AssumeRole` → `requestParameters.tags` as a list
//! of `{"key","value"}` (a map under `tags` is accepted too); `AssumeRoleWithSAML` /
//! `AssumeRoleWithWebIdentity` → `requestParameters.principalTags` as a map; chained sessions →
//! `requestParameters.incomingTransitiveTags` as a map. Explicit tags win over inherited ones.
//! Credential expiry is written as `"Nov 20, 2026, 3:05:22 PM"` (UTC), not ISO-8601.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

/// STS APIs whose success creates a session identified by a new access key.
pub const SESSION_APIS: &[&str] = &[
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "GetFederationToken",
];

/// The fields of an STS event needed to describe its session.
#[derive(Debug, Clone, Default)]
pub struct StsEvent {
    /// `eventID` (or dedup key).
    pub event_id: String,
    /// `eventTime`.
    pub event_time: DateTime<Utc>,
    /// `eventName`.
    pub api: String,
    /// `recipientAccountId`.
    pub account_id: Option<String>,
    /// `awsRegion` (us-east-1 for the global endpoint).
    pub region: Option<String>,
    /// The caller's `userIdentity.arn`.
    pub caller_arn: Option<String>,
    /// The caller's access key (the parent session when chaining).
    pub caller_access_key_id: Option<String>,
    /// The caller's `sessionContext.sourceIdentity`.
    pub caller_source_identity: Option<String>,
    /// `requestParameters` JSON text.
    pub request_parameters: Option<String>,
    /// `responseElements` JSON text.
    pub response_elements: Option<String>,
}

/// A session as created by one STS call (before any AI decision).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionRecord {
    /// The new credentials' access key id: the only reliable identity of the session.
    pub access_key_id: String,
    /// The STS event that created it.
    pub sts_event_id: String,
    /// `AssumeRole`, `AssumeRoleWithSAML`, …
    pub api: String,
    /// Account of the trail.
    pub account_id: Option<String>,
    /// Region the STS event was logged in.
    pub region: Option<String>,
    /// When the STS call happened.
    pub issued_at: DateTime<Utc>,
    /// Credential expiry, when readable.
    pub expires_at: Option<DateTime<Utc>>,
    /// `requestParameters.roleArn`.
    pub role_arn: Option<String>,
    /// `roleSessionName` (or `name` for GetFederationToken).
    pub session_name: Option<String>,
    /// `assumedRoleUser.arn` / `federatedUser.arn`.
    pub assumed_role_arn: Option<String>,
    /// `assumedRoleUser.assumedRoleId` / `federatedUser.federatedUserId`.
    pub assumed_role_id: Option<String>,
    /// All tags, merged from every shape.
    pub tags: BTreeMap<String, String>,
    /// `transitiveTagKeys`.
    pub transitive_tag_keys: Vec<String>,
    /// `sourceIdentity` set on the call, else inherited from the caller.
    pub source_identity: Option<String>,
    /// A session policy (`policy` or `policyArns`) scoped the credentials.
    pub has_session_policy: bool,
    /// Who called STS.
    pub caller_arn: Option<String>,
    /// The caller's access key (for chaining).
    pub caller_access_key_id: Option<String>,
}

/// The session `ev` created, or `None` when it created none (failed call, no credentials).
pub fn session_from_event(ev: &StsEvent) -> Option<SessionRecord> {
    let response: Value = serde_json::from_str(ev.response_elements.as_deref()?).ok()?;
    let creds = response.get("credentials")?;
    let access_key_id = str_at(creds, "accessKeyId").filter(|k| !k.is_empty())?;
    let request: Value = ev
        .request_parameters
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null);
    let user = response
        .get("assumedRoleUser")
        .or_else(|| response.get("federatedUser"));
    let mut tags = BTreeMap::new();
    for field in ["incomingTransitiveTags", "principalTags", "tags"] {
        if let Some(v) = request.get(field) {
            read_tags(v, &mut tags);
        }
    }
    let transitive_tag_keys = request
        .get("transitiveTagKeys")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let has_session_policy = request.get("policy").is_some_and(|p| !p.is_null())
        || request
            .get("policyArns")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
    Some(SessionRecord {
        access_key_id,
        sts_event_id: ev.event_id.clone(),
        api: ev.api.clone(),
        account_id: ev.account_id.clone(),
        region: ev.region.clone(),
        issued_at: ev.event_time,
        expires_at: str_at(creds, "expiration").and_then(|s| parse_expiration(&s)),
        role_arn: str_at(&request, "roleArn"),
        session_name: str_at(&request, "roleSessionName").or_else(|| str_at(&request, "name")),
        assumed_role_arn: user.and_then(|u| str_at(u, "arn")),
        assumed_role_id: user
            .and_then(|u| str_at(u, "assumedRoleId").or_else(|| str_at(u, "federatedUserId"))),
        tags,
        transitive_tag_keys,
        source_identity: str_at(&request, "sourceIdentity")
            .or_else(|| ev.caller_source_identity.clone()),
        has_session_policy,
        caller_arn: ev.caller_arn.clone(),
        caller_access_key_id: ev.caller_access_key_id.clone().filter(|k| !k.is_empty()),
    })
}

fn str_at(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Merge tags in any of the shapes CloudTrail uses into `out`.
fn read_tags(v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Array(items) => {
            for item in items {
                let k = item
                    .get("key")
                    .or_else(|| item.get("Key"))
                    .and_then(Value::as_str);
                let val = item.get("value").or_else(|| item.get("Value"));
                if let (Some(k), Some(val)) = (k, val) {
                    out.insert(k.to_string(), value_text(val));
                }
            }
        }
        Value::Object(map) => {
            for (k, val) in map {
                out.insert(k.clone(), value_text(val));
            }
        }
        _ => {}
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Parse STS credential expiry: `"Nov 20, 2026, 3:05:22 PM"` (UTC) or ISO-8601.
pub fn parse_expiration(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Some(t) = crate::decode::time::parse_event_time(s) {
        return Some(t);
    }
    NaiveDateTime::parse_from_str(s, "%b %d, %Y, %I:%M:%S %p")
        .ok()
        .map(|n| Utc.from_utc_datetime(&n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(api: &str, req: &str, resp: Option<&str>) -> StsEvent {
        StsEvent {
            event_id: "e".into(),
            event_time: Utc.with_ymd_and_hms(2026, 11, 20, 14, 5, 22).unwrap(),
            api: api.into(),
            caller_access_key_id: Some("ASIAPARENT".into()),
            caller_source_identity: Some("inherited-si".into()),
            request_parameters: Some(req.into()),
            response_elements: resp.map(str::to_string),
            ..Default::default()
        }
    }

    const RESP: &str = r#"{"credentials":{"accessKeyId":"ASIANEW","expiration":"Nov 20, 2026, 3:05:22 PM"},
        "assumedRoleUser":{"arn":"arn:aws:sts::1:assumed-role/r/s","assumedRoleId":"AROA:s"}}"#;

    /// (API, requestParameters, expected tags).
    type TagCase<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

    #[test]
    fn every_tag_shape_is_read() {
        let cases: &[TagCase] = &[
            (
                "AssumeRole",
                r#"{"tags":[{"key":"AccessType","value":"AI"},{"key":"MCPServer","value":"s3"}]}"#,
                &[("AccessType", "AI"), ("MCPServer", "s3")],
            ),
            (
                "AssumeRole",
                r#"{"tags":{"AccessType":"AI"}}"#,
                &[("AccessType", "AI")],
            ),
            (
                "AssumeRole",
                r#"{"tags":[{"Key":"AccessType","Value":"AI"}]}"#,
                &[("AccessType", "AI")],
            ),
            (
                "AssumeRoleWithSAML",
                r#"{"principalTags":{"AccessType":"AI"}}"#,
                &[("AccessType", "AI")],
            ),
            (
                "AssumeRoleWithWebIdentity",
                r#"{"principalTags":{"Team":"x"}}"#,
                &[("Team", "x")],
            ),
            (
                "AssumeRole",
                r#"{"incomingTransitiveTags":{"AccessType":"AI"}}"#,
                &[("AccessType", "AI")],
            ),
            (
                "AssumeRole",
                r#"{"incomingTransitiveTags":{"A":"inherited"},"tags":[{"key":"A","value":"own"}]}"#,
                &[("A", "own")],
            ),
            ("AssumeRole", r#"{"roleArn":"arn"}"#, &[]),
            ("AssumeRole", r#"{"tags":"garbage"}"#, &[]),
        ];
        for (api, req, want) in cases {
            let s = session_from_event(&ev(api, req, Some(RESP))).unwrap();
            let want: BTreeMap<String, String> = want
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(s.tags, want, "{req}");
        }
    }

    #[test]
    fn session_fields_are_read() {
        let req = r#"{"roleArn":"arn:aws:iam::1:role/r","roleSessionName":"s","transitiveTagKeys":["AccessType"],
                      "policyArns":[{"arn":"arn:aws:iam::aws:policy/ReadOnlyAccess"}]}"#;
        let s = session_from_event(&ev("AssumeRole", req, Some(RESP))).unwrap();
        assert_eq!(s.access_key_id, "ASIANEW");
        assert_eq!(s.role_arn.as_deref(), Some("arn:aws:iam::1:role/r"));
        assert_eq!(s.session_name.as_deref(), Some("s"));
        assert_eq!(
            s.assumed_role_arn.as_deref(),
            Some("arn:aws:sts::1:assumed-role/r/s")
        );
        assert_eq!(s.transitive_tag_keys, vec!["AccessType"]);
        assert!(s.has_session_policy);
        assert_eq!(
            s.expires_at,
            Some(Utc.with_ymd_and_hms(2026, 11, 20, 15, 5, 22).unwrap())
        );
        assert_eq!(s.caller_access_key_id.as_deref(), Some("ASIAPARENT"));
        assert_eq!(
            s.source_identity.as_deref(),
            Some("inherited-si"),
            "source identity survives chaining"
        );
        let s = session_from_event(&ev("AssumeRole", r#"{"sourceIdentity":"own"}"#, Some(RESP)))
            .unwrap();
        assert_eq!(s.source_identity.as_deref(), Some("own"));
        assert!(!s.has_session_policy);
    }

    #[test]
    fn failed_or_credential_less_calls_create_no_session() {
        assert_eq!(session_from_event(&ev("AssumeRole", "{}", None)), None);
        assert_eq!(
            session_from_event(&ev("AssumeRole", "{}", Some("null"))),
            None
        );
        assert_eq!(
            session_from_event(&ev(
                "AssumeRole",
                "{}",
                Some(r#"{"credentials":{"accessKeyId":""}}"#)
            )),
            None
        );
    }

    #[test]
    fn expiry_formats() {
        let cases = [
            (
                "Nov 20, 2026, 3:05:22 PM",
                Some("2026-11-20T15:05:22+00:00"),
            ),
            (
                "Nov 20, 2026, 12:05:22 AM",
                Some("2026-11-20T00:05:22+00:00"),
            ),
            (
                "Dec 1, 2026, 11:59:59 PM",
                Some("2026-12-01T23:59:59+00:00"),
            ),
            ("2026-11-20T15:05:22Z", Some("2026-11-20T15:05:22+00:00")),
            ("tomorrow", None),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_expiration(input).map(|t| t.to_rfc3339()).as_deref(),
                want,
                "{input}"
            );
        }
    }
}
