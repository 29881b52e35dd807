//! Arrow schemas of the lake's tables: the one source of truth for column names and types.
//!
//! `events` holds one row per accepted CloudTrail record (duplicates removed at query time, see
//! `query`); `rejects` one row per record or object that could not be read, with its reason.
//! Column names are snake_case versions of CloudTrail's; the minimum contract other components and
//! users rely on is documented in the README and pinned by a test.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Timestamps are stored in microseconds, UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The columns of `events`, in file order: (name, type, nullable, description).
pub const EVENT_COLUMNS: &[(&str, Col, bool, &str)] = &[
    (
        "event_id",
        Col::Str,
        true,
        "CloudTrail `eventID` (null when the record has none).",
    ),
    (
        "dedup_key",
        Col::Str,
        false,
        "`eventID`, or `sha256:<digest of the record>` when it is missing; unique in `events` as queried.",
    ),
    (
        "event_time",
        Col::Ts,
        false,
        "`eventTime` as a UTC timestamp (accepts `T` or space, fractions, with or without `Z`).",
    ),
    (
        "event_date",
        Col::Date,
        false,
        "UTC date of `event_time`; the lake is partitioned by it (`events/date=YYYY-MM-DD/`).",
    ),
    ("event_version", Col::Str, true, "`eventVersion`."),
    (
        "event_source",
        Col::Str,
        true,
        "`eventSource`, e.g. `s3.amazonaws.com`.",
    ),
    (
        "event_name",
        Col::Str,
        true,
        "`eventName`, e.g. `DeleteObject`.",
    ),
    ("aws_region", Col::Str, true, "`awsRegion`."),
    (
        "recipient_account_id",
        Col::Str,
        true,
        "`recipientAccountId`: the account whose trail recorded the event.",
    ),
    (
        "event_type",
        Col::Str,
        true,
        "`eventType` (`AwsApiCall`, `AwsConsoleSignIn`, `AwsMcpEvent`, …; an open set).",
    ),
    (
        "event_category",
        Col::Str,
        true,
        "`eventCategory` (`Management`, `Data`, `Insight`, …).",
    ),
    (
        "identity_type",
        Col::Str,
        true,
        "`userIdentity.type` (`IAMUser`, `AssumedRole`, `Root`, …; an open set).",
    ),
    (
        "identity_principal_id",
        Col::Str,
        true,
        "`userIdentity.principalId`.",
    ),
    ("identity_arn", Col::Str, true, "`userIdentity.arn`."),
    (
        "identity_account_id",
        Col::Str,
        true,
        "`userIdentity.accountId`.",
    ),
    (
        "access_key_id",
        Col::Str,
        true,
        "`userIdentity.accessKeyId`: identifies the session that made the call.",
    ),
    (
        "identity_user_name",
        Col::Str,
        true,
        "`userIdentity.userName`.",
    ),
    (
        "invoked_by",
        Col::Str,
        true,
        "`userIdentity.invokedBy` (e.g. `aws-mcp.amazonaws.com` for the AWS-managed MCP server).",
    ),
    (
        "session_issuer_type",
        Col::Str,
        true,
        "`userIdentity.sessionContext.sessionIssuer.type`.",
    ),
    (
        "session_issuer_arn",
        Col::Str,
        true,
        "`userIdentity.sessionContext.sessionIssuer.arn` (the role of an assumed-role session).",
    ),
    (
        "session_issuer_user_name",
        Col::Str,
        true,
        "`userIdentity.sessionContext.sessionIssuer.userName`.",
    ),
    (
        "session_creation_date",
        Col::Ts,
        true,
        "`userIdentity.sessionContext.attributes.creationDate`.",
    ),
    (
        "mfa_authenticated",
        Col::Bool,
        true,
        "`userIdentity.sessionContext.attributes.mfaAuthenticated`.",
    ),
    (
        "source_identity",
        Col::Str,
        true,
        "`userIdentity.sessionContext.sourceIdentity`.",
    ),
    (
        "signin_session_arn",
        Col::Str,
        true,
        "`userIdentity.sessionContext.signInSessionArn`: the AWS Sign-In session (OAuth token) the call was made under, e.g. by the AWS MCP Server.",
    ),
    (
        "source_ip",
        Col::Str,
        true,
        "`sourceIPAddress` (an IP, or a service name such as `aws-mcp.amazonaws.com`).",
    ),
    (
        "user_agent",
        Col::Str,
        true,
        "`userAgent` (attacker-influenced: escaped on output).",
    ),
    (
        "error_code",
        Col::Str,
        true,
        "`errorCode` (null on success).",
    ),
    ("error_message", Col::Str, true, "`errorMessage`."),
    ("request_id", Col::Str, true, "`requestID`."),
    ("shared_event_id", Col::Str, true, "`sharedEventID`."),
    ("vpc_endpoint_id", Col::Str, true, "`vpcEndpointId`."),
    (
        "read_only",
        Col::Bool,
        true,
        "`readOnly` (also accepted as the strings `\"true\"`/`\"false\"`).",
    ),
    ("management_event", Col::Bool, true, "`managementEvent`."),
    (
        "session_credential_from_console",
        Col::Bool,
        true,
        "`sessionCredentialFromConsole`.",
    ),
    (
        "user_identity",
        Col::Str,
        true,
        "The whole `userIdentity` object as JSON text.",
    ),
    (
        "request_parameters",
        Col::Str,
        true,
        "`requestParameters` as JSON text (use `json_get_str` and friends).",
    ),
    (
        "response_elements",
        Col::Str,
        true,
        "`responseElements` as JSON text.",
    ),
    (
        "additional_event_data",
        Col::Str,
        true,
        "`additionalEventData` as JSON text.",
    ),
    (
        "service_event_details",
        Col::Str,
        true,
        "`serviceEventDetails` as JSON text.",
    ),
    ("resources", Col::Str, true, "`resources` as JSON text."),
    ("tls_details", Col::Str, true, "`tlsDetails` as JSON text."),
    (
        "insight_details",
        Col::Str,
        true,
        "`insightDetails` as JSON text (Insights records).",
    ),
    (
        "source_object",
        Col::Str,
        false,
        "The object the record came from (`s3://bucket/key` or a local path).",
    ),
    (
        "source_index",
        Col::I64,
        false,
        "The record's index in that object's `Records` array.",
    ),
];

/// The columns of `rejects`: (name, type, nullable, description).
pub const REJECT_COLUMNS: &[(&str, Col, bool, &str)] = &[
    ("source_object", Col::Str, false, "The object at fault."),
    (
        "record_index",
        Col::I64,
        true,
        "Index in `Records`; null when the whole object could not be read.",
    ),
    (
        "reason",
        Col::Str,
        false,
        "Stable reason code, e.g. `missing-event-time`, `not-gzip`.",
    ),
    ("detail", Col::Str, false, "The full error message."),
    (
        "event_id",
        Col::Str,
        true,
        "`eventID` when it could be read.",
    ),
    (
        "raw",
        Col::Str,
        true,
        "The record's JSON text (capped at 64 KiB); null for object-level rejects.",
    ),
];

/// Columns of the `integrity` table: one row per check of a log file or digest (see `integrity`).
pub const INTEGRITY_COLUMNS: &[(&str, Col, bool, &str)] = &[
    (
        "object",
        Col::Str,
        false,
        "The log file or digest checked (`s3://bucket/key` or a local path).",
    ),
    ("kind", Col::Str, false, "`log-file` or `digest`."),
    (
        "status",
        Col::Str,
        false,
        "`valid`, `missing`, `modified`, `not-in-digest`, `digest-missing`, `chain-gap`, `digest-invalid`, `signature-invalid` or `key-unknown`.",
    ),
    (
        "digest",
        Col::Str,
        true,
        "The digest that named the object, or whose check found the problem.",
    ),
    ("account_id", Col::Str, true, "Account of the trail files."),
    ("region", Col::Str, true, "Region of the trail files."),
    (
        "expected_sha256",
        Col::Str,
        true,
        "Hash the digest records (hex SHA-256 of the uncompressed bytes).",
    ),
    (
        "actual_sha256",
        Col::Str,
        true,
        "Hash of the object as read.",
    ),
    ("detail", Col::Str, false, "What was found, in words."),
    (
        "period_end",
        Col::Ts,
        true,
        "End of the hour the digest covers.",
    ),
    (
        "checked_at",
        Col::Ts,
        false,
        "When agenttrail checked it; the latest row per object is its status.",
    ),
];

/// Schema of the `integrity` table.
pub fn integrity_schema() -> SchemaRef {
    schema_of(INTEGRITY_COLUMNS)
}

/// Column kinds used by the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    /// UTF-8 text.
    Str,
    /// Timestamp, microseconds, UTC.
    Ts,
    /// Date (days).
    Date,
    /// Boolean.
    Bool,
    /// Signed 64-bit integer (Delta's `long`: every engine reads it; Delta has no unsigned types).
    I64,
}

impl Col {
    fn data_type(self) -> DataType {
        match self {
            Col::Str => DataType::Utf8,
            Col::Ts => timestamp_type(),
            Col::Date => DataType::Date32,
            Col::Bool => DataType::Boolean,
            Col::I64 => DataType::Int64,
        }
    }
}

fn schema_of(cols: &[(&str, Col, bool, &str)]) -> SchemaRef {
    Arc::new(Schema::new(
        cols.iter()
            .map(|(name, col, nullable, _)| Field::new(*name, col.data_type(), *nullable))
            .collect::<Vec<_>>(),
    ))
}

/// Schema of the `events` table as stored.
pub fn events_schema() -> SchemaRef {
    schema_of(EVENT_COLUMNS)
}

/// Schema of the `rejects` table.
pub fn rejects_schema() -> SchemaRef {
    schema_of(REJECT_COLUMNS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names other issues, detections and users rely on.
    const CONTRACT: &[&str] = &[
        "event_id",
        "event_time",
        "event_source",
        "event_name",
        "aws_region",
        "recipient_account_id",
        "identity_type",
        "identity_arn",
        "access_key_id",
        "invoked_by",
        "source_ip",
        "user_agent",
        "error_code",
        "read_only",
        "event_category",
        "request_parameters",
        "response_elements",
        "source_object",
    ];

    #[test]
    fn events_schema_keeps_the_contract() {
        let schema = events_schema();
        for name in CONTRACT {
            assert!(
                schema.field_with_name(name).is_ok(),
                "contract column {name} missing"
            );
        }
        assert_eq!(
            schema.field_with_name("event_time").unwrap().data_type(),
            &timestamp_type()
        );
        assert_eq!(
            schema.field_with_name("read_only").unwrap().data_type(),
            &DataType::Boolean
        );
    }

    #[test]
    fn column_names_are_unique() {
        let mut names: Vec<_> = EVENT_COLUMNS.iter().map(|c| c.0).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), EVENT_COLUMNS.len());
    }
}
