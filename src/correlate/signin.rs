//! AWS Sign-In OAuth grants: the AWS MCP Server acting under a token a person granted.
//!
//! A `signin.amazonaws.com` `CreateOAuth2Token` event, made with the person's own session, has
//! `requestParameters.resource` = the MCP endpoint, `requestParameters.client_id` = the MCP
//! client's registration, and `additionalEventData.signInSessionArn`. Every event made under the
//! token carries that ARN in `userIdentity.sessionContext.signInSessionArn`: the `AwsMcpEvent`
//! tool calls (no access key) and their downstream calls. `aws login` from the CLI creates
//! sign-in sessions too, so only a grant whose resource is an MCP endpoint (configurable globs)
//! marks an agent (`mcp-oauth`). The person behind the agent is the grant's caller.
//!
//! Downstream records sometimes carry no `requestID` (a published capture: the tool call names
//! `iam:ListUsers` with a request id, the `ListUsers` record has none). Such a record is linked to
//! the tool call with the same sign-in session, API (`<service prefix>:<eventName>`) and Region
//! within a short window after it; the link is marked inferred.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

/// One `CreateOAuth2Token` grant.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// `additionalEventData.signInSessionArn`.
    pub signin_session_arn: String,
    /// When the token was granted.
    pub granted_at: DateTime<Utc>,
    /// `requestParameters.resource`: the endpoint the token is for.
    pub resource: Option<String>,
    /// `requestParameters.client_id`.
    pub client_id: Option<String>,
    /// `authorization_code` or `refresh_token`.
    pub grant_type: Option<String>,
    /// The person (their session) who granted it.
    pub caller_arn: Option<String>,
    /// Their access key.
    pub caller_access_key_id: Option<String>,
    /// The grant's `eventID`.
    pub event_id: String,
}

/// Read a grant from a `CreateOAuth2Token` event; None without a sign-in session ARN.
pub fn grant_from_event(
    event_id: &str,
    event_time: DateTime<Utc>,
    caller_arn: Option<&str>,
    caller_access_key_id: Option<&str>,
    request_parameters: Option<&str>,
    additional_event_data: Option<&str>,
) -> Option<Grant> {
    let parse = |t: Option<&str>| -> Value {
        t.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or(Value::Null)
    };
    let params = parse(request_parameters);
    let extra = parse(additional_event_data);
    let text = |v: &Value, keys: &[&str]| {
        keys.iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .map(str::to_string)
    };
    let arn =
        text(&extra, &["signInSessionArn"]).or_else(|| text(&params, &["signInSessionArn"]))?;
    Some(Grant {
        signin_session_arn: arn,
        granted_at: event_time,
        resource: text(&params, &["resource"]),
        client_id: text(&params, &["client_id", "clientId"]),
        grant_type: text(&params, &["grant_type", "grantType"]),
        caller_arn: caller_arn.map(str::to_string),
        caller_access_key_id: caller_access_key_id.map(str::to_string),
        event_id: event_id.to_string(),
    })
}

/// What the events of one sign-in session inherit from its grants.
#[derive(Debug, Clone, PartialEq)]
pub struct SigninSession {
    /// The session.
    pub signin_session_arn: String,
    /// The person who granted the first MCP token.
    pub caller_arn: Option<String>,
    /// The MCP client's registration (`client_id`).
    pub client_id: Option<String>,
    /// The MCP endpoint.
    pub resource: Option<String>,
}

/// Sign-in sessions with at least one grant for an MCP endpoint (`is_mcp`), from the earliest
/// such grant; order-independent.
pub fn mcp_sessions(grants: &[Grant], is_mcp: impl Fn(&str) -> bool) -> Vec<SigninSession> {
    let mut first: BTreeMap<&str, &Grant> = BTreeMap::new();
    for g in grants
        .iter()
        .filter(|g| g.resource.as_deref().is_some_and(&is_mcp))
    {
        let e = first.entry(g.signin_session_arn.as_str()).or_insert(g);
        if (g.granted_at, &g.event_id) < (e.granted_at, &e.event_id) {
            *e = g;
        }
    }
    first
        .into_values()
        .map(|g| SigninSession {
            signin_session_arn: g.signin_session_arn.clone(),
            caller_arn: g.caller_arn.clone(),
            client_id: g.client_id.clone(),
            resource: g.resource.clone(),
        })
        .collect()
}

/// A downstream call an MCP tool call announced: `{apiName, requestId, awsRegion}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Announced {
    /// The tool call's `eventID`.
    pub mcp_event_id: String,
    /// Its time.
    pub at: DateTime<Utc>,
    /// Its sign-in session.
    pub signin_session_arn: String,
    /// `iam:ListUsers`.
    pub api_name: String,
    /// Region of the downstream call, when given.
    pub region: Option<String>,
}

/// The downstream calls an `AwsMcpEvent` announces.
pub fn announced(
    mcp_event_id: &str,
    at: DateTime<Utc>,
    signin_session_arn: &str,
    additional_event_data: Option<&str>,
) -> Vec<Announced> {
    let extra: Value = additional_event_data
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null);
    let Some(reqs) = extra.get("downstreamRequests").and_then(Value::as_array) else {
        return Vec::new();
    };
    reqs.iter()
        .filter_map(|r| {
            Some(Announced {
                mcp_event_id: mcp_event_id.to_string(),
                at,
                signin_session_arn: signin_session_arn.to_string(),
                api_name: r.get("apiName").and_then(Value::as_str)?.to_string(),
                region: r
                    .get("awsRegion")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            })
        })
        .collect()
}

/// How long after the tool call a downstream call without a request id may come.
pub const INFER_WINDOW_SECONDS: i64 = 300;

/// The announced call that explains a downstream record lacking a request id: same sign-in
/// session, same API (`<eventSource prefix>:<eventName>`), same Region when announced, at most a
/// minute before and `INFER_WINDOW_SECONDS` after the tool call; the nearest in time wins (then
/// the smallest event id, for a stable answer).
pub fn infer<'a>(
    candidates: &'a [Announced],
    signin_session_arn: &str,
    event_source: &str,
    event_name: &str,
    region: Option<&str>,
    at: DateTime<Utc>,
) -> Option<&'a Announced> {
    let prefix = event_source.split('.').next().unwrap_or(event_source);
    let api = format!("{prefix}:{event_name}");
    candidates
        .iter()
        .filter(|a| {
            a.signin_session_arn == signin_session_arn
                && a.api_name.eq_ignore_ascii_case(&api)
                && a.region.as_deref().is_none_or(|r| Some(r) == region)
                && at >= a.at - Duration::seconds(60)
                && at <= a.at + Duration::seconds(INFER_WINDOW_SECONDS)
        })
        .min_by_key(|a| ((at - a.at).num_milliseconds().abs(), a.mcp_event_id.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn grants_read_the_capture_shape_and_only_mcp_resources_count() {
        let g = grant_from_event(
            "g1",
            t("2026-07-10T09:00:00Z"),
            Some("arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123/alice"),
            Some("ASIAALICE"),
            Some(r#"{"resource":"https://aws-mcp.us-east-1.api.aws/mcp","client_id":"arn:aws:signin:us-east-1::external-client/dcr/1b2c","grant_type":"authorization_code"}"#),
            Some(r#"{"signInSessionArn":"arn:aws:signin:us-east-1:111122223333:session/s-1"}"#),
        )
        .unwrap();
        assert_eq!(
            g.signin_session_arn,
            "arn:aws:signin:us-east-1:111122223333:session/s-1"
        );
        assert_eq!(g.grant_type.as_deref(), Some("authorization_code"));
        let login = grant_from_event(
            "g2",
            t("2026-07-10T08:00:00Z"),
            Some("arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123/alice"),
            None,
            Some(r#"{"resource":"https://signin.aws.amazon.com/","client_id":"arn:aws:signin:::devtools/same-device"}"#),
            Some(r#"{"signInSessionArn":"arn:aws:signin:us-east-1:111122223333:session/s-2"}"#),
        )
        .unwrap();
        assert!(
            grant_from_event(
                "x",
                t("2026-07-10T08:00:00Z"),
                None,
                None,
                Some("{}"),
                Some("{}")
            )
            .is_none()
        );
        let is_mcp = |r: &str| r.starts_with("https://aws-mcp.");
        let s = mcp_sessions(&[login.clone(), g.clone()], is_mcp);
        assert_eq!(s.len(), 1, "aws login is not an agent");
        assert_eq!(s[0].caller_arn, g.caller_arn);
        assert_eq!(s[0].client_id, g.client_id);
        // Order-independent, earliest grant wins.
        let mut later = g.clone();
        later.granted_at = t("2026-07-10T10:00:00Z");
        later.client_id = Some("refreshed".into());
        later.event_id = "g0".into();
        assert_eq!(
            mcp_sessions(&[later.clone(), g.clone()], is_mcp),
            mcp_sessions(&[g, later], is_mcp)
        );
    }

    #[test]
    fn a_downstream_call_without_request_id_is_inferred_from_session_api_region_and_time() {
        let a = announced(
            "mcp-1",
            t("2026-07-10T09:05:00Z"),
            "arn:s-1",
            Some(
                r#"{"downstreamRequests":[{"apiName":"iam:ListUsers","requestId":"r1","awsRegion":"us-east-1"},{"apiName":"s3:ListBuckets","awsRegion":"us-east-1"}]}"#,
            ),
        );
        assert_eq!(a.len(), 2);
        let hit = |arn: &str, src: &str, name: &str, region: &str, at: &str| {
            infer(&a, arn, src, name, Some(region), t(at)).map(|x| x.mcp_event_id.clone())
        };
        assert_eq!(
            hit(
                "arn:s-1",
                "iam.amazonaws.com",
                "ListUsers",
                "us-east-1",
                "2026-07-10T09:05:01Z"
            )
            .as_deref(),
            Some("mcp-1")
        );
        // Near misses: other session, API, Region, too late, long before.
        assert_eq!(
            hit(
                "arn:s-2",
                "iam.amazonaws.com",
                "ListUsers",
                "us-east-1",
                "2026-07-10T09:05:01Z"
            ),
            None
        );
        assert_eq!(
            hit(
                "arn:s-1",
                "iam.amazonaws.com",
                "ListRoles",
                "us-east-1",
                "2026-07-10T09:05:01Z"
            ),
            None
        );
        assert_eq!(
            hit(
                "arn:s-1",
                "iam.amazonaws.com",
                "ListUsers",
                "eu-west-1",
                "2026-07-10T09:05:01Z"
            ),
            None
        );
        assert_eq!(
            hit(
                "arn:s-1",
                "iam.amazonaws.com",
                "ListUsers",
                "us-east-1",
                "2026-07-10T09:10:01Z"
            ),
            None
        );
        assert_eq!(
            hit(
                "arn:s-1",
                "iam.amazonaws.com",
                "ListUsers",
                "us-east-1",
                "2026-07-10T09:03:00Z"
            ),
            None
        );
    }
}
