//! Build Arrow arrays for `events` and `rejects` directly from decoded records.
//!
//! Building columns straight from the borrowed records (rather than through `serde_json::Value`
//! or an intermediate row type) keeps decode to one pass over the text and one copy per value.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use chrono::{DateTime, Utc};

use crate::decode::record::{Record, UserIdentity};
use crate::schema::{events_schema, rejects_schema};

/// One accepted record, ready for columns.
pub struct EventRow<'a> {
    /// The parsed record.
    pub record: Record<'a>,
    /// Its parsed identity (default when absent).
    pub identity: UserIdentity<'a>,
    /// `eventTime` parsed.
    pub event_time: DateTime<Utc>,
    /// `sessionContext.attributes.creationDate` parsed.
    pub session_creation: Option<DateTime<Utc>>,
    /// `eventID` or a digest of the record.
    pub dedup_key: String,
    /// Index in `Records`.
    pub index: u32,
}

const EPOCH_DAYS_CE: i32 = 719_163;

/// Column builders for `events`, in schema order.
pub struct EventsBuilder {
    event_id: StringBuilder,
    dedup_key: StringBuilder,
    event_time: TimestampMicrosecondBuilder,
    event_date: Date32Builder,
    strs1: [StringBuilder; 17],
    session_creation_date: TimestampMicrosecondBuilder,
    mfa_authenticated: BooleanBuilder,
    strs2: [StringBuilder; 9],
    bools: [BooleanBuilder; 3],
    blobs: [StringBuilder; 8],
    source_object: StringBuilder,
    source_index: Int64Builder,
}

impl Default for EventsBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl EventsBuilder {
    /// Empty builders.
    pub fn new() -> Self {
        EventsBuilder {
            event_id: StringBuilder::new(),
            dedup_key: StringBuilder::new(),
            event_time: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            event_date: Date32Builder::new(),
            strs1: std::array::from_fn(|_| StringBuilder::new()),
            session_creation_date: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            mfa_authenticated: BooleanBuilder::new(),
            strs2: std::array::from_fn(|_| StringBuilder::new()),
            bools: std::array::from_fn(|_| BooleanBuilder::new()),
            blobs: std::array::from_fn(|_| StringBuilder::new()),
            source_object: StringBuilder::new(),
            source_index: Int64Builder::new(),
        }
    }

    /// Number of rows appended so far.
    pub fn len(&self) -> usize {
        arrow::array::ArrayBuilder::len(&self.source_index)
    }

    /// True when no row was appended.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Append one row.
    pub fn push(&mut self, row: &EventRow<'_>, source_object: &str) {
        let r = &row.record;
        let id = &row.identity;
        let ctx = id.session_context.as_ref();
        let issuer = ctx.and_then(|c| c.session_issuer.as_ref());
        let attrs = ctx.and_then(|c| c.attributes.as_ref());
        self.event_id.append_option(r.event_id.as_deref());
        self.dedup_key.append_value(&row.dedup_key);
        self.event_time
            .append_value(row.event_time.timestamp_micros());
        self.event_date
            .append_value(row.event_time.date_naive().num_days_from_ce_fixed() - EPOCH_DAYS_CE);
        let s1: [Option<&str>; 17] = [
            r.event_version.as_deref(),
            r.event_source.as_deref(),
            r.event_name.as_deref(),
            r.aws_region.as_deref(),
            r.recipient_account_id.as_deref(),
            r.event_type.as_deref(),
            r.event_category.as_deref(),
            id.identity_type.as_deref(),
            id.principal_id.as_deref(),
            id.arn.as_deref(),
            id.account_id.as_deref(),
            id.access_key_id.as_deref().filter(|k| !k.is_empty()),
            id.user_name.as_deref(),
            id.invoked_by.as_deref(),
            issuer.and_then(|i| i.issuer_type.as_deref()),
            issuer.and_then(|i| i.arn.as_deref()),
            issuer.and_then(|i| i.user_name.as_deref()),
        ];
        for (b, v) in self.strs1.iter_mut().zip(s1) {
            b.append_option(v);
        }
        self.session_creation_date
            .append_option(row.session_creation.map(|t| t.timestamp_micros()));
        self.mfa_authenticated
            .append_option(attrs.and_then(|a| a.mfa_authenticated));
        let s2: [Option<&str>; 9] = [
            ctx.and_then(|c| c.source_identity.as_deref()),
            ctx.and_then(|c| c.signin_session_arn.as_deref()),
            r.source_ip_address.as_deref(),
            r.user_agent.as_deref(),
            r.error_code.as_deref().filter(|c| !c.is_empty()),
            r.error_message.as_deref(),
            r.request_id.as_deref(),
            r.shared_event_id.as_deref(),
            r.vpc_endpoint_id.as_deref(),
        ];
        for (b, v) in self.strs2.iter_mut().zip(s2) {
            b.append_option(v);
        }
        let bools = [
            r.read_only,
            r.management_event,
            r.session_credential_from_console,
        ];
        for (b, v) in self.bools.iter_mut().zip(bools) {
            b.append_option(v);
        }
        let blobs = [
            r.user_identity,
            r.request_parameters,
            r.response_elements,
            r.additional_event_data,
            r.service_event_details,
            r.resources,
            r.tls_details,
            r.insight_details,
        ];
        for (b, v) in self.blobs.iter_mut().zip(blobs) {
            b.append_option(v.map(|raw| raw.get()).filter(|t| *t != "null"));
        }
        self.source_object.append_value(source_object);
        self.source_index.append_value(i64::from(row.index));
    }

    /// Finish into a batch in the order of [`events_schema`].
    pub fn finish(mut self) -> RecordBatch {
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.event_id.finish()),
            Arc::new(self.dedup_key.finish()),
            Arc::new(self.event_time.finish()),
            Arc::new(self.event_date.finish()),
        ];
        for b in self.strs1.iter_mut() {
            cols.push(Arc::new(b.finish()));
        }
        cols.push(Arc::new(self.session_creation_date.finish()));
        cols.push(Arc::new(self.mfa_authenticated.finish()));
        for b in self.strs2.iter_mut() {
            cols.push(Arc::new(b.finish()));
        }
        for b in self.bools.iter_mut() {
            cols.push(Arc::new(b.finish()));
        }
        for b in self.blobs.iter_mut() {
            cols.push(Arc::new(b.finish()));
        }
        cols.push(Arc::new(self.source_object.finish()));
        cols.push(Arc::new(self.source_index.finish()));
        // The builders doubled their buffers as rows came: ~40% of a finished batch was spare
        // capacity, held until its commit is written (two commits' batches are in memory at
        // once). Giving it back now costs a `realloc` per buffer, in place for large ones.
        for c in &mut cols {
            arrow::array::Array::shrink_to_fit(c);
        }
        // Infallible: the columns above are built in schema order with the schema's types, and
        // the schema test in this module proves it.
        RecordBatch::try_new(events_schema(), cols).expect("events columns match events_schema")
    }
}

trait DaysFromCe {
    fn num_days_from_ce_fixed(&self) -> i32;
}

impl DaysFromCe for chrono::NaiveDate {
    fn num_days_from_ce_fixed(&self) -> i32 {
        chrono::Datelike::num_days_from_ce(self)
    }
}

/// A record or object that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Index in `Records`; `None` for an object-level reject.
    pub record_index: Option<u32>,
    /// Stable reason code.
    pub reason: &'static str,
    /// Full message.
    pub detail: String,
    /// `eventID` if it could be read.
    pub event_id: Option<String>,
    /// The record's text, capped.
    pub raw: Option<String>,
}

/// Build a `rejects` batch.
pub fn rejects_batch(source_object: &str, rejects: &[Reject]) -> RecordBatch {
    let mut obj = StringBuilder::new();
    let mut idx = Int64Builder::new();
    let mut reason = StringBuilder::new();
    let mut detail = StringBuilder::new();
    let mut event_id = StringBuilder::new();
    let mut raw = StringBuilder::new();
    for r in rejects {
        obj.append_value(source_object);
        idx.append_option(r.record_index.map(i64::from));
        reason.append_value(r.reason);
        detail.append_value(&r.detail);
        event_id.append_option(r.event_id.as_deref());
        raw.append_option(r.raw.as_deref());
    }
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(obj.finish()),
        Arc::new(idx.finish()),
        Arc::new(reason.finish()),
        Arc::new(detail.finish()),
        Arc::new(event_id.finish()),
        Arc::new(raw.finish()),
    ];
    // A builder starts with room for 1,024 values: ~30 KiB a batch, held until the commit is
    // written, for an object with a single broken record (see `EventsBuilder::finish`).
    for c in &mut cols {
        arrow::array::Array::shrink_to_fit(c);
    }
    // Infallible for the same reason as `EventsBuilder::finish`.
    RecordBatch::try_new(rejects_schema(), cols).expect("rejects columns match rejects_schema")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::time::parse_event_time;

    #[test]
    fn a_rejects_batch_holds_its_data_and_no_spare_capacity() {
        let rejects: Vec<Reject> = (0..3)
            .map(|i| Reject {
                record_index: Some(i),
                reason: "invalid-record",
                detail: format!("record {i}: eventTime missing"),
                event_id: Some(format!("e{i}")),
                raw: Some(format!("{{\"eventID\":\"e{i}\"}}")),
            })
            .collect();
        let batch = rejects_batch("s3://b/o.json.gz", &rejects);
        assert_eq!(batch.num_rows(), 3);
        let held = batch.get_array_memory_size();
        let used: usize = batch
            .columns()
            .iter()
            .map(|c| c.to_data().get_slice_memory_size().unwrap())
            .sum();
        // Beyond the data: the arrays' own structs and buffer handles (the builders' spare
        // capacity was ~35 KiB here).
        assert!(
            held - used < 4 * 1024,
            "{held} bytes held for {used} of data"
        );
    }

    #[test]
    fn builder_output_matches_the_schema() {
        let text = r#"{"eventID":"e1","eventName":"DeleteBucket","vpcEndpointId":"vpce-1","readOnly":false,
            "userIdentity":{"type":"AssumedRole","accessKeyId":"ASIA1","invokedBy":"aws-mcp.amazonaws.com",
              "sessionContext":{"sourceIdentity":"agent-7","sessionIssuer":{"arn":"arn:aws:iam::1:role/r"},
                "attributes":{"mfaAuthenticated":"false","creationDate":"2026-11-20T14:00:00Z"}}},
            "sourceIPAddress":"aws-mcp.amazonaws.com","requestParameters":{"bucketName":"b"},"responseElements":null}"#;
        let record: Record = serde_json::from_str(text).unwrap();
        let identity: UserIdentity =
            serde_json::from_str(record.user_identity.unwrap().get()).unwrap();
        let mut b = EventsBuilder::new();
        b.push(
            &EventRow {
                record,
                identity,
                event_time: parse_event_time("2026-11-20T14:05:22Z").unwrap(),
                session_creation: parse_event_time("2026-11-20T14:00:00Z"),
                dedup_key: "e1".into(),
                index: 3,
            },
            "s3://b/k",
        );
        let batch = b.finish();
        assert_eq!(batch.schema(), events_schema());
        let col = |name: &str| {
            let a = batch.column_by_name(name).unwrap();
            arrow::util::display::array_value_to_string(a, 0).unwrap()
        };
        assert_eq!(col("event_name"), "DeleteBucket");
        assert_eq!(col("access_key_id"), "ASIA1");
        assert_eq!(col("invoked_by"), "aws-mcp.amazonaws.com");
        assert_eq!(col("session_issuer_arn"), "arn:aws:iam::1:role/r");
        assert_eq!(col("source_identity"), "agent-7");
        assert_eq!(col("source_ip"), "aws-mcp.amazonaws.com");
        assert_eq!(col("vpc_endpoint_id"), "vpce-1");
        assert_eq!(col("mfa_authenticated"), "false");
        assert_eq!(col("read_only"), "false");
        assert_eq!(col("event_date"), "2026-11-20");
        assert_eq!(col("request_parameters"), r#"{"bucketName":"b"}"#);
        assert_eq!(col("response_elements"), "");
        assert_eq!(col("source_object"), "s3://b/k");
        assert_eq!(col("source_index"), "3");
    }
}
