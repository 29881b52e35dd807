//! Typed view of one CloudTrail record, borrowed from the decompressed buffer.
//!
//! Only the fields that become typed columns are named here; the free-form blobs
//! (`requestParameters`, `responseElements`, `additionalEventData`, `serviceEventDetails`,
//! `resources`, …) are kept as raw JSON text so nothing the detections may need is lost.
//!
//! Real logs are untidy (see `../shared/conformance/`): booleans arrive as strings, numbers where
//! strings belong, `null` anywhere, and open enums. The `lenient` deserializers accept those
//! shapes instead of rejecting the record; what still cannot be read becomes a reject with serde's
//! message (which names the field).

// Fields carry CloudTrail's own names (camelCase in the JSON), documented by AWS.
#![allow(missing_docs)]

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::value::RawValue;

/// One CloudTrail record. Unknown fields are ignored (they stay in the raw source object).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record<'a> {
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub event_version: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub event_time: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub event_source: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub event_name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub aws_region: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        rename = "sourceIPAddress",
        deserialize_with = "lenient_str"
    )]
    pub source_ip_address: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub user_agent: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub error_code: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub error_message: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        rename = "requestID",
        deserialize_with = "lenient_str"
    )]
    pub request_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "eventID", deserialize_with = "lenient_str")]
    pub event_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub event_type: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub event_category: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub recipient_account_id: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        rename = "sharedEventID",
        deserialize_with = "lenient_str"
    )]
    pub shared_event_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub vpc_endpoint_id: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub read_only: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub management_event: Option<bool>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub session_credential_from_console: Option<bool>,
    #[serde(borrow, default)]
    pub user_identity: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub request_parameters: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub response_elements: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub additional_event_data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub service_event_details: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub resources: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub tls_details: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub insight_details: Option<&'a RawValue>,
}

/// `userIdentity`, parsed from its raw text (kept whole as a column too).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity<'a> {
    #[serde(borrow, default, rename = "type", deserialize_with = "lenient_str")]
    pub identity_type: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub principal_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub arn: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub account_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub access_key_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub user_name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub invoked_by: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub session_context: Option<SessionContext<'a>>,
}

/// `userIdentity.sessionContext`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext<'a> {
    #[serde(borrow, default)]
    pub session_issuer: Option<SessionIssuer<'a>>,
    #[serde(borrow, default)]
    pub attributes: Option<SessionAttributes<'a>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub source_identity: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        default,
        rename = "signInSessionArn",
        deserialize_with = "lenient_str"
    )]
    pub signin_session_arn: Option<Cow<'a, str>>,
}

/// `userIdentity.sessionContext.sessionIssuer`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer<'a> {
    #[serde(borrow, default, rename = "type", deserialize_with = "lenient_str")]
    pub issuer_type: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub arn: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub user_name: Option<Cow<'a, str>>,
}

/// `userIdentity.sessionContext.attributes`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAttributes<'a> {
    #[serde(borrow, default, deserialize_with = "lenient_str")]
    pub creation_date: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub mfa_authenticated: Option<bool>,
}

/// Accept a string, number or boolean as text, an object or array as its compact JSON text, and
/// `null` as absent: a field of the wrong shape is kept, not a reason to lose the record.
pub fn lenient_str<'de: 'a, 'a, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string, number, boolean or null")
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(if v { "true" } else { "false" })))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(V)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            let v = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            let v = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
            Ok(Some(Cow::Owned(v.to_string())))
        }
    }
    d.deserialize_option(V)
}

/// Accept `true`/`false`, the strings `"true"`/`"false"` (any case) and `null`. Any other value
/// (placeholders such as `"..."` in published samples) reads as unknown (`None`); the original
/// stays in the raw JSON columns.
pub fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a boolean, \"true\"/\"false\" or null")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if v.eq_ignore_ascii_case("true") {
                Ok(Some(true))
            } else if v.eq_ignore_ascii_case("false") {
                Ok(Some(false))
            } else {
                Ok(None)
            }
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(V)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(match v {
                0 => Some(false),
                1 => Some(true),
                _ => None,
            })
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            self.visit_i64(v.min(2) as i64)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            de::IgnoredAny::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
            Ok(None)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            de::IgnoredAny::deserialize(de::value::MapAccessDeserializer::new(map))?;
            Ok(None)
        }
    }
    d.deserialize_option(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_fields_accept_real_world_shapes() {
        let r: Record = serde_json::from_str(
            r#"{"eventName":"X","readOnly":"True","managementEvent":null,"eventVersion":1.08,
                "recipientAccountId":123456789012,"userAgent":null,"requestParameters":{"a":[1,2]}}"#,
        )
        .unwrap();
        assert_eq!(r.event_name.as_deref(), Some("X"));
        assert_eq!(r.read_only, Some(true));
        assert_eq!(r.management_event, None);
        assert_eq!(r.event_version.as_deref(), Some("1.08"));
        assert_eq!(r.recipient_account_id.as_deref(), Some("123456789012"));
        assert_eq!(r.user_agent, None);
        assert_eq!(r.request_parameters.unwrap().get(), r#"{"a":[1,2]}"#);
    }

    #[test]
    fn escaped_strings_are_unescaped() {
        let r: Record = serde_json::from_str(r#"{"userAgent":"a\u001b[31mb\"c"}"#).unwrap();
        assert_eq!(r.user_agent.as_deref(), Some("a\u{1b}[31mb\"c"));
    }

    #[test]
    fn wrong_shapes_are_kept_not_fatal() {
        let r: Record =
            serde_json::from_str(r#"{"eventName":{"x":[1,"a"]},"userAgent":["a","b"]}"#).unwrap();
        assert_eq!(r.event_name.as_deref(), Some(r#"{"x":[1,"a"]}"#));
        assert_eq!(r.user_agent.as_deref(), Some(r#"["a","b"]"#));
        let r: Record = serde_json::from_str(
            r#"{"readOnly":"...","managementEvent":1,"sessionCredentialFromConsole":{}}"#,
        )
        .unwrap();
        assert_eq!(
            (
                r.read_only,
                r.management_event,
                r.session_credential_from_console
            ),
            (None, Some(true), None)
        );
    }
}
