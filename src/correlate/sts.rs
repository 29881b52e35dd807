//! Read one STS `AssumeRole*` / `GetFederationToken` event into the session it created.
//!
//! Tag shapes differ by API and all are accepted: `AssumeRole` → `requestParameters.tags` as a list
//! of `{"key","value"}` (a map under `tags` is accepted too); `AssumeRoleWithSAML` /
//! `AssumeRoleWithWebIdentity` → `requestParameters.principalTags` as a map; chained sessions →
//! `requestParameters.incomingTransitiveTags` as a map. Explicit tags win over inherited ones.
//! Credential expiry is written as `"Nov 20, 2026, 3:05:22 PM"` (UTC), not ISO-8601.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Number, Value};

/// STS APIs whose success creates a session identified by a new access key.
pub const SESSION_APIS: &[&str] = &[
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "GetFederationToken",
];

/// The fields of an STS event needed to describe its session, borrowed from its events batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct StsEvent<'a> {
    /// `eventID` (or dedup key).
    pub event_id: &'a str,
    /// `eventTime`.
    pub event_time: DateTime<Utc>,
    /// `eventName`.
    pub api: &'a str,
    /// `recipientAccountId`.
    pub account_id: Option<&'a str>,
    /// `awsRegion` (us-east-1 for the global endpoint).
    pub region: Option<&'a str>,
    /// The caller's `userIdentity.arn`.
    pub caller_arn: Option<&'a str>,
    /// The caller's access key (the parent session when chaining).
    pub caller_access_key_id: Option<&'a str>,
    /// The caller's `sessionContext.sourceIdentity`.
    pub caller_source_identity: Option<&'a str>,
    /// `requestParameters` JSON text.
    pub request_parameters: Option<&'a str>,
    /// `responseElements` JSON text.
    pub response_elements: Option<&'a str>,
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
///
/// Ingest reads every STS event of every commit (a seventh of the benchmark's generated trail),
/// so the JSON is read into typed fields borrowed from the text, not into a tree of owned values
/// (counted: a quarter fewer instructions per session, BENCHMARKS.md run N). The typed reading
/// takes every value as [`session_from_values`] does (a scalar of any JSON type as text, a field
/// of the wrong type as absent); what it cannot take the same way (duplicate keys) goes to that
/// generic reading, so both give one answer (tested over every conformance STS event).
pub fn session_from_event(ev: &StsEvent) -> Option<SessionRecord> {
    typed_session(ev).unwrap_or_else(|_| session_from_values(ev))
}

/// [`session_from_event`]'s typed reading; an error where it cannot read the JSON as the generic
/// reading would.
fn typed_session(ev: &StsEvent) -> Result<Option<SessionRecord>, serde_json::Error> {
    let Some(text) = ev.response_elements else {
        return Ok(None);
    };
    let Slot::Object(response) = serde_json::from_str::<Slot<Response>>(text)? else {
        return Ok(None);
    };
    let Slot::Object(creds) = &response.credentials else {
        return Ok(None);
    };
    let Some(access_key_id) = creds.access_key_id.text().filter(|k| !k.is_empty()) else {
        return Ok(None);
    };
    let request = match ev
        .request_parameters
        .map(serde_json::from_str::<Slot<Request>>)
    {
        Some(Ok(Slot::Object(r))) => r,
        None | Some(Ok(_)) => Request::default(),
        Some(Err(e)) => return Err(e),
    };
    let user = match &response.assumed_role_user {
        Slot::Absent => &response.federated_user,
        present => present,
    };
    let user = match user {
        Slot::Object(u) => Some(u),
        _ => None,
    };
    let mut tags = BTreeMap::new();
    for raw in [
        request.incoming_transitive_tags,
        request.principal_tags,
        request.tags,
    ]
    .into_iter()
    .flatten()
    {
        if let Ok(v) = serde_json::from_str::<Value>(raw.get()) {
            read_tags(&v, &mut tags);
        }
    }
    let transitive_tag_keys = request
        .transitive_tag_keys
        .and_then(|raw| serde_json::from_str::<Vec<Value>>(raw.get()).ok())
        .map(|a| {
            a.into_iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let has_session_policy = request.policy.is_some()
        || request
            .policy_arns
            .and_then(|raw| serde_json::from_str::<Vec<IgnoredAny>>(raw.get()).ok())
            .is_some_and(|a| !a.is_empty());
    Ok(Some(SessionRecord {
        expires_at: creds.expiration.0.as_deref().and_then(parse_expiration),
        role_arn: request.role_arn.text(),
        session_name: request
            .role_session_name
            .text()
            .or_else(|| request.name.text()),
        assumed_role_arn: user.and_then(|u| u.arn.text()),
        assumed_role_id: user.and_then(|u| {
            u.assumed_role_id
                .text()
                .or_else(|| u.federated_user_id.text())
        }),
        tags,
        transitive_tag_keys,
        source_identity: request
            .source_identity
            .text()
            .or_else(|| ev.caller_source_identity.map(str::to_string)),
        has_session_policy,
        ..issued_by(ev, access_key_id)
    }))
}

/// The same session as [`session_from_event`], read through generic JSON values: the reference
/// the typed reading must match, and its path for what it cannot read the same way.
pub fn session_from_values(ev: &StsEvent) -> Option<SessionRecord> {
    let response: Value = serde_json::from_str(ev.response_elements?).ok()?;
    let creds = response.get("credentials")?;
    let access_key_id = str_at(creds, "accessKeyId").filter(|k| !k.is_empty())?;
    let request: Value = ev
        .request_parameters
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
        expires_at: str_at(creds, "expiration").and_then(|s| parse_expiration(&s)),
        role_arn: str_at(&request, "roleArn"),
        session_name: str_at(&request, "roleSessionName").or_else(|| str_at(&request, "name")),
        assumed_role_arn: user.and_then(|u| str_at(u, "arn")),
        assumed_role_id: user
            .and_then(|u| str_at(u, "assumedRoleId").or_else(|| str_at(u, "federatedUserId"))),
        tags,
        transitive_tag_keys,
        source_identity: str_at(&request, "sourceIdentity")
            .or_else(|| ev.caller_source_identity.map(str::to_string)),
        has_session_policy,
        ..issued_by(ev, access_key_id)
    })
}

/// The session of `access_key_id` in what the event's own columns say (who called, when,
/// where); the JSON's fields are the callers' to fill.
fn issued_by(ev: &StsEvent, access_key_id: String) -> SessionRecord {
    SessionRecord {
        access_key_id,
        sts_event_id: ev.event_id.to_string(),
        api: ev.api.to_string(),
        account_id: ev.account_id.map(str::to_string),
        region: ev.region.map(str::to_string),
        issued_at: ev.event_time,
        caller_arn: ev.caller_arn.map(str::to_string),
        caller_access_key_id: ev
            .caller_access_key_id
            .filter(|k| !k.is_empty())
            .map(str::to_string),
        ..SessionRecord::default()
    }
}

/// `responseElements`, in the fields a session reads.
#[derive(Deserialize, Default)]
struct Response<'a> {
    #[serde(borrow, default)]
    credentials: Slot<Credentials<'a>>,
    #[serde(borrow, default, rename = "assumedRoleUser")]
    assumed_role_user: Slot<User<'a>>,
    #[serde(borrow, default, rename = "federatedUser")]
    federated_user: Slot<User<'a>>,
}

#[derive(Deserialize, Default)]
struct Credentials<'a> {
    #[serde(borrow, default, rename = "accessKeyId")]
    access_key_id: Scalar<'a>,
    #[serde(borrow, default)]
    expiration: Scalar<'a>,
}

#[derive(Deserialize, Default)]
struct User<'a> {
    #[serde(borrow, default)]
    arn: Scalar<'a>,
    #[serde(borrow, default, rename = "assumedRoleId")]
    assumed_role_id: Scalar<'a>,
    #[serde(borrow, default, rename = "federatedUserId")]
    federated_user_id: Scalar<'a>,
}

/// `requestParameters`, in the fields a session reads. Tags and policies stay raw text: they
/// come in several shapes (see the module doc) and are rarer than the names.
#[derive(Deserialize, Default)]
struct Request<'a> {
    #[serde(borrow, default, rename = "roleArn")]
    role_arn: Scalar<'a>,
    #[serde(borrow, default, rename = "roleSessionName")]
    role_session_name: Scalar<'a>,
    #[serde(borrow, default)]
    name: Scalar<'a>,
    #[serde(borrow, default, rename = "sourceIdentity")]
    source_identity: Scalar<'a>,
    #[serde(borrow, default, rename = "incomingTransitiveTags")]
    incoming_transitive_tags: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "principalTags")]
    principal_tags: Option<&'a RawValue>,
    #[serde(borrow, default)]
    tags: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "transitiveTagKeys")]
    transitive_tag_keys: Option<&'a RawValue>,
    /// Present and not null (serde reads a JSON null as `None`).
    #[serde(borrow, default)]
    policy: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "policyArns")]
    policy_arns: Option<&'a RawValue>,
}

/// A field that may be absent, an object, or any other JSON value (which `Value::get` would
/// find but not read into).
#[derive(Default)]
enum Slot<T> {
    #[default]
    Absent,
    Other,
    Object(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Slot<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Visit<T> {
            type Value = Slot<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Slot<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Slot::Object)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Slot<T>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Slot::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Slot<T>, E> {
                Ok(Slot::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Slot<T>, E> {
                Ok(Slot::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Slot<T>, E> {
                Ok(Slot::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Slot<T>, E> {
                Ok(Slot::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<Slot<T>, E> {
                Ok(Slot::Other)
            }
            fn visit_unit<E>(self) -> Result<Slot<T>, E> {
                Ok(Slot::Other)
            }
        }
        d.deserialize_any(Visit(PhantomData))
    }
}

/// A scalar read as [`str_at`] reads it: a string as itself, a number or a boolean as its JSON
/// text, anything else as absent.
#[derive(Default)]
struct Scalar<'a>(Option<Cow<'a, str>>);

impl Scalar<'_> {
    fn text(&self) -> Option<String> {
        self.0.as_deref().map(str::to_string)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Visit<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'a>, E> {
                Ok(Scalar(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar<'a>, E> {
                Ok(Scalar(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar<'a>, E> {
                Ok(Scalar(Some(Cow::Owned(v))))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar<'a>, E> {
                Ok(Scalar(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar<'a>, E> {
                Ok(Scalar(Some(Cow::Owned(Number::from(v).to_string()))))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar<'a>, E> {
                Ok(Scalar(Some(Cow::Owned(Number::from(v).to_string()))))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar<'a>, E> {
                Ok(Scalar(
                    Number::from_f64(v).map(|n| Cow::Owned(n.to_string())),
                ))
            }
            fn visit_unit<E>(self) -> Result<Scalar<'a>, E> {
                Ok(Scalar(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'a>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'a>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar(None))
            }
        }
        d.deserialize_any(Visit(PhantomData))
    }
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
    if let Some(t) = cloudtrail_expiration(s) {
        return Some(t);
    }
    if let Some(t) = crate::decode::time::parse_event_time(s) {
        return Some(t);
    }
    NaiveDateTime::parse_from_str(s, EXPIRATION_FORMAT)
        .ok()
        .map(|n| Utc.from_utc_datetime(&n))
}

/// How CloudTrail writes `credentials.expiration`, in chrono's terms.
const EXPIRATION_FORMAT: &str = "%b %d, %Y, %I:%M:%S %p";

/// The expiry in exactly the form CloudTrail writes it (`Nov 20, 2026, 3:05:22 PM`), read
/// without chrono's format interpreter (after a failed ISO-8601 attempt, that was 0.6% of
/// ingest's instructions); None for any other form, which [`EXPIRATION_FORMAT`] then reads.
fn cloudtrail_expiration(s: &str) -> Option<DateTime<Utc>> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let b = s.as_bytes();
    let month = MONTHS.iter().position(|m| b.get(..3) == Some(&m[..]))? as u32 + 1;
    let mut at = 3;
    // Digits at `at`: between `min` and `max` of them, as a number.
    let number = |at: &mut usize, min: usize, max: usize| -> Option<u32> {
        let digits = b[*at..]
            .iter()
            .take(max)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits < min {
            return None;
        }
        let n = b[*at..*at + digits]
            .iter()
            .fold(0u32, |n, c| n * 10 + u32::from(c - b'0'));
        *at += digits;
        Some(n)
    };
    let expect = |at: &mut usize, text: &[u8]| -> Option<()> {
        (b.get(*at..*at + text.len()) == Some(text)).then(|| *at += text.len())
    };
    expect(&mut at, b" ")?;
    let day = number(&mut at, 1, 2)?;
    expect(&mut at, b", ")?;
    let year = number(&mut at, 4, 4)?;
    expect(&mut at, b", ")?;
    let hour12 = number(&mut at, 1, 2)?;
    expect(&mut at, b":")?;
    let minute = number(&mut at, 2, 2)?;
    expect(&mut at, b":")?;
    let second = number(&mut at, 2, 2)?;
    expect(&mut at, b" ")?;
    let pm = match b.get(at..)? {
        b"AM" => false,
        b"PM" => true,
        _ => return None,
    };
    if !(1..=12).contains(&hour12) {
        return None;
    }
    let hour = hour12 % 12 + if pm { 12 } else { 0 };
    let date = chrono::NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let time = chrono::NaiveTime::from_hms_opt(hour, minute, second)?;
    Some(Utc.from_utc_datetime(&date.and_time(time)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev<'a>(api: &'a str, req: &'a str, resp: Option<&'a str>) -> StsEvent<'a> {
        StsEvent {
            event_id: "e",
            event_time: Utc.with_ymd_and_hms(2026, 11, 20, 14, 5, 22).unwrap(),
            api,
            caller_access_key_id: Some("ASIAPARENT"),
            caller_source_identity: Some("inherited-si"),
            request_parameters: Some(req),
            response_elements: resp,
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

    /// The typed reading gives the generic reading's answer, and reads every STS event of the
    /// conformance corpus and `sample-logs/` itself; JSON of odd shapes either gets the same
    /// answer from it or goes to the generic reading.
    #[test]
    fn the_typed_reading_answers_as_the_generic_reading() {
        let mut records = Vec::new();
        for path in crate::decode::corpus_objects() {
            let bytes = std::fs::read(&path).unwrap();
            let Ok(text) = crate::decode::gzip::gunzip_capped(&bytes, 1 << 30) else {
                continue;
            };
            let Ok(Value::Object(mut top)) = serde_json::from_slice::<Value>(&text) else {
                continue;
            };
            if let Some(Value::Array(rs)) = top.remove("Records") {
                records.extend(rs);
            }
        }
        let text = |r: &Value, k: &str| r.get(k).filter(|v| !v.is_null()).map(Value::to_string);
        let mut read = 0;
        for r in &records {
            let api = r
                .get("eventName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if r.get("eventSource").and_then(Value::as_str) != Some("sts.amazonaws.com")
                || !SESSION_APIS.contains(&api)
            {
                continue;
            }
            let (req, resp) = (text(r, "requestParameters"), text(r, "responseElements"));
            let ev = StsEvent {
                api,
                caller_source_identity: Some("si"),
                request_parameters: req.as_deref(),
                response_elements: resp.as_deref(),
                ..Default::default()
            };
            let typed = typed_session(&ev).unwrap_or_else(|e| panic!("{e}: {r}"));
            assert_eq!(typed, session_from_values(&ev), "{r}");
            read += usize::from(typed.is_some());
        }
        assert!(read > 90, "{read} sessions read");

        const CREDS: &str =
            r#""credentials":{"accessKeyId":"ASIANEW","expiration":"Nov 20, 2026, 3:05:22 PM"}"#;
        let with = |rest: &str| format!("{{{CREDS}{rest}}}");
        // (requestParameters, responseElements, whether the typed reading takes it)
        let odd: Vec<(Option<String>, String, bool)> = vec![
            (None, "null".into(), true),
            (None, "[1,2]".into(), true),
            (None, r#"{"credentials":"x"}"#.into(), true),
            (None, r#"{"credentials":{"accessKeyId":123}}"#.into(), true),
            (None, r#"{"credentials":{"accessKeyId":-5,"expiration":7}}"#.into(), true),
            (None, r#"{"credentials":{"accessKeyId":18446744073709551616}}"#.into(), true),
            (None, r#"{"credentials":{"accessKeyId":1.5e3}}"#.into(), true),
            (None, r#"{"credentials":{"accessKeyId":true}}"#.into(), true),
            (None, r#"{"credentials":{"accessKeyId":""}}"#.into(), true),
            (None, r#"{"credentials":{"accessKeyId":{"a":1}}}"#.into(), true),
            (None, with(r#","assumedRoleUser":null,"federatedUser":{"arn":"f"}"#), true),
            (None, with(r#","assumedRoleUser":[1],"federatedUser":{"arn":"f"}"#), true),
            (None, with(r#","federatedUser":{"arn":"f","federatedUserId":"1:f"}"#), true),
            (None, with(r#","assumedRoleUser":{"arn":"a\"b\u0041","assumedRoleId":9}"#), true),
            (Some(r#"["arn","name"]"#.into()), with(""), true),
            (Some(r#""text""#.into()), with(""), true),
            (Some(r#"{"roleArn":true,"roleSessionName":1.5,"sourceIdentity":null}"#.into()), with(""), true),
            (Some(r#"{"roleSessionName":{"x":1},"name":"n\tn"}"#.into()), with(""), true),
            (Some(r#"{"tags":null,"principalTags":{"A":1},"incomingTransitiveTags":[{"key":"B","value":{"x":1}}]}"#.into()), with(""), true),
            (Some(r#"{"tags":[{"Key":"K","Value":"v"},{"key":1,"value":"x"},"junk"]}"#.into()), with(""), true),
            (Some(r#"{"transitiveTagKeys":["a",1,null,"b"]}"#.into()), with(""), true),
            (Some(r#"{"transitiveTagKeys":"a","policy":null,"policyArns":[]}"#.into()), with(""), true),
            (Some(r#"{"policy":""}"#.into()), with(""), true),
            (Some(r#"{"policyArns":{"a":1}}"#.into()), with(""), true),
            (Some(r#"{"policy":null,"policyArns":[{"arn":"x"}]}"#.into()), with(""), true),
            (Some(r#"{"roleArn":"a","roleArn":"b"}"#.into()), with(""), false),
            (Some(r#"{"tags":{"A":"1"},"tags":{"B":"2"}}"#.into()), with(""), false),
            (Some(r#"{"roleArn":"#.into()), with(""), false),
            (None, format!(r#"{{{CREDS},{CREDS}}}"#), false),
            (None, r#"{"credentials":{"accessKeyId":"A","accessKeyId":"B"}}"#.into(), false),
            (None, r#"{"credentials":"#.into(), false),
        ];
        for (req, resp, takes) in &odd {
            let ev = StsEvent {
                request_parameters: req.as_deref(),
                response_elements: Some(resp),
                caller_access_key_id: Some(""),
                ..Default::default()
            };
            let want = session_from_values(&ev);
            match typed_session(&ev) {
                Ok(got) => assert_eq!(got, want, "{req:?} {resp}"),
                Err(e) => assert!(!takes, "{req:?} {resp}: {e}"),
            }
            assert_eq!(typed_session(&ev).is_ok(), *takes, "{req:?} {resp}");
            assert_eq!(session_from_event(&ev), want, "{req:?} {resp}");
        }
        let fallback = StsEvent {
            request_parameters: Some(r#"{"roleArn":"a","roleArn":"b"}"#),
            response_elements: Some(&odd[14].1),
            ..Default::default()
        };
        let s = session_from_event(&fallback).unwrap();
        assert_eq!(
            s.role_arn.as_deref(),
            Some("b"),
            "the last of duplicate keys"
        );
    }

    /// Every string the hand-written reader accepts is read as chrono's format reads it, and
    /// it accepts every date and time of the year in CloudTrail's form.
    #[test]
    fn the_cloudtrail_expiry_reader_answers_as_the_chrono_format() {
        let chrono_reads = |s: &str| {
            NaiveDateTime::parse_from_str(s, EXPIRATION_FORMAT)
                .ok()
                .map(|n| Utc.from_utc_datetime(&n))
        };
        let months = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let mut read = 0;
        for (year, month) in [2024, 2026]
            .into_iter()
            .flat_map(|y| months.iter().map(move |m| (y, m)))
        {
            for day in [0, 1, 9, 10, 28, 29, 30, 31, 32] {
                for hour in [0, 1, 9, 11, 12, 13] {
                    for (minute, second) in [
                        ("00", "00"),
                        ("05", "22"),
                        ("59", "59"),
                        ("60", "00"),
                        ("5", "22"),
                    ] {
                        for half in ["AM", "PM", "am", "XM"] {
                            let s =
                                format!("{month} {day}, {year}, {hour}:{minute}:{second} {half}");
                            let fast = cloudtrail_expiration(&s);
                            if let Some(t) = fast {
                                read += 1;
                                assert_eq!(Some(t), chrono_reads(&s), "{s}");
                            } else {
                                assert!(
                                    chrono_reads(&s).is_none() || half == "am" || minute.len() == 1,
                                    "{s}: CloudTrail's form, not read"
                                );
                            }
                        }
                    }
                }
            }
        }
        assert!(read > 3000, "{read}");
        for odd in [
            "Nov 20, 2026, 3:05:22 PM ",
            "Nov  20, 2026, 3:05:22 PM",
            "November 20, 2026, 3:05:22 PM",
            "nov 20, 2026, 3:05:22 PM",
            "Nov 20, 26, 3:05:22 PM",
            "Nov 20, 2026, 003:05:22 PM",
            "",
        ] {
            assert_eq!(cloudtrail_expiration(odd), None, "{odd:?}");
        }
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
