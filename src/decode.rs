//! The decode stage: bytes of one CloudTrail object → `events` rows and rejects.
//!
//! Decoding is synchronous and pure; the ingest command runs it on rayon so tokio workers only do
//! I/O. Every record ends up in exactly one place: an `events` row or a reject with a stable reason
//! code (`rejects.reason`) and the full message (`rejects.detail`). An object that cannot be read
//! at all (not gzip, corrupt, no `Records` array, …) is one object-level reject; it never stops the
//! run.
//!
//! Duplicate keys inside a record (seen in published logs) make serde's derived parser fail; such
//! a record is re-read through `serde_json::Value`, whose last-one-wins rule then applies, instead
//! of being rejected.

pub mod gzip;
mod one_pass;
pub mod record;
pub mod salvage;
pub mod time;
pub mod to_arrow;

use arrow::array::RecordBatch;
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use self::record::{Record, UserIdentity};
use self::to_arrow::{EventRow, EventsBuilder, Reject};

/// Limits that keep hostile objects from exhausting memory.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Cap on one object's decompressed size.
    pub max_decompressed_bytes: u64,
    /// Cap on one record's size; a larger record is rejected (`too-large-record`). CloudTrail's
    /// own records stay far below it (it truncates large request parameters), so a record this
    /// big is damage or an attack, and storing it would bloat every scan of its row group.
    pub max_record_bytes: usize,
    /// How much of a rejected record's text is kept.
    pub max_reject_raw_bytes: usize,
    /// Also hash the decompressed bytes (SHA-256, what CloudTrail digests record): ingest asks for
    /// it only when the trail has digests to check, since it costs a pass over every byte.
    pub sha256: bool,
}

/// Default cap on one object's decompressed size, in MiB.
pub const DEFAULT_MAX_DECOMPRESSED_MIB: u64 = 1024;
/// Default cap on one record's size, in MiB.
pub const DEFAULT_MAX_RECORD_MIB: usize = 16;

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_MIB << 20,
            max_record_bytes: DEFAULT_MAX_RECORD_MIB << 20,
            max_reject_raw_bytes: 64 << 10,
            sha256: false,
        }
    }
}

/// What one object decoded to.
pub struct DecodedObject {
    /// Accepted records (may have zero rows).
    pub events: RecordBatch,
    /// Records (or the object) that could not be read.
    pub rejects: Vec<Reject>,
    /// Records found in `Records` (accepted + rejected); 0 when the object failed as a whole.
    pub records_seen: usize,
    /// Set when the object as a whole could not be read.
    pub object_error: Option<String>,
    /// Hex SHA-256 of the decompressed bytes, when they decompressed whole: what a CloudTrail
    /// digest records for the file (see `integrity`).
    pub sha256: Option<String>,
}

#[derive(Deserialize)]
struct TopLevel<'a> {
    #[serde(borrow, rename = "Records")]
    records: Option<&'a RawValue>,
}

/// The common case when `one_pass` declined: `Records` is an array, each element kept as
/// borrowed text, then parsed.
#[derive(Deserialize)]
struct TopLevelRecords<'a> {
    #[serde(borrow, rename = "Records")]
    records: Vec<&'a RawValue>,
}

/// Decode the (compressed) bytes of one object.
pub fn decode_object(source_object: &str, bytes: &[u8], limits: &DecodeLimits) -> DecodedObject {
    let fail = |reason: &'static str, detail: String| DecodedObject {
        events: EventsBuilder::new().finish(),
        rejects: vec![Reject {
            record_index: None,
            reason,
            detail: detail.clone(),
            event_id: None,
            raw: None,
        }],
        records_seen: 0,
        object_error: Some(format!("{reason}: {detail}")),
        sha256: None,
    };
    let text = match gzip::gunzip_capped(bytes, limits.max_decompressed_bytes) {
        Ok(t) => t,
        Err(gzip::GzipError::Corrupt(e)) => {
            // Keep every complete record before the damage; the object still counts as failed.
            let partial = gzip::gunzip_partial(bytes, limits.max_decompressed_bytes);
            let detail = format!("corrupt or truncated gzip: {e}");
            return match decode_salvaged(source_object, &partial, limits) {
                Some(mut d) => {
                    d.rejects.push(Reject {
                        record_index: None,
                        reason: "corrupt-gzip",
                        detail: detail.clone(),
                        event_id: None,
                        raw: None,
                    });
                    d.object_error = Some(format!("corrupt-gzip: {detail}"));
                    d
                }
                None => fail("corrupt-gzip", detail),
            };
        }
        Err(e) => {
            let reason = match e {
                gzip::GzipError::Empty => "empty-object",
                gzip::GzipError::NotGzip => "not-gzip",
                gzip::GzipError::TooLarge(_) => "too-large",
                gzip::GzipError::Corrupt(_) => "corrupt-gzip",
            };
            return fail(reason, e.to_string());
        }
    };
    let sha256 = limits
        .sha256
        .then(|| crate::integrity::digest::sha256_hex(&text));
    let mut decoded = match decode_json(source_object, &text, limits) {
        Ok(d) => d,
        Err((reason, detail)) => match decode_salvaged(source_object, &text, limits) {
            // The document as a whole is broken but its Records array can be cut apart: keep
            // every readable record; the broken ones are rejects with their own reasons.
            Some(d) if reason == "invalid-json" => d,
            _ => fail(reason, detail),
        },
    };
    decoded.sha256 = sha256;
    decoded
}

/// Decode record by record after the whole-document parse failed (see `salvage`).
fn decode_salvaged(
    source_object: &str,
    text: &[u8],
    limits: &DecodeLimits,
) -> Option<DecodedObject> {
    let found = salvage::split_records(text)?;
    let mut builder = EventsBuilder::new();
    let mut rejects = Vec::new();
    let total = found.elements.len() + usize::from(found.tail.is_some());
    for (i, raw) in found.elements.iter().enumerate() {
        let index = i as u32;
        let lossy = || cap_text(&String::from_utf8_lossy(raw), limits.max_reject_raw_bytes);
        let Ok(text) = std::str::from_utf8(raw) else {
            rejects.push(Reject {
                record_index: Some(index),
                reason: "invalid-utf8",
                detail: "the record is not valid UTF-8".into(),
                event_id: None,
                raw: Some(lossy()),
            });
            continue;
        };
        let mut owned = None;
        match decode_record(text, index, &mut owned, limits) {
            Ok(row) => builder.push(&row, source_object),
            Err((reason, detail)) => {
                let reason = if reason == "invalid-record" {
                    "invalid-json"
                } else {
                    reason
                };
                rejects.push(record_reject(index, (reason, detail), text, limits));
            }
        }
    }
    if let Some(tail) = found.tail {
        rejects.push(Reject {
            record_index: Some(found.elements.len() as u32),
            reason: "truncated-record",
            detail: "the object ends inside this record".into(),
            event_id: None,
            raw: Some(cap_text(
                &String::from_utf8_lossy(tail),
                limits.max_reject_raw_bytes,
            )),
        });
    }
    Some(DecodedObject {
        events: builder.finish(),
        rejects,
        records_seen: total,
        object_error: None,
        sha256: None,
    })
}

/// Decode the decompressed JSON text of one object. `Err` is an object-level reject.
pub fn decode_json(
    source_object: &str,
    text: &[u8],
    limits: &DecodeLimits,
) -> Result<DecodedObject, (&'static str, String)> {
    match one_pass::decode(source_object, text, limits) {
        Some(decoded) => Ok(decoded),
        None => decode_json_in_two_passes(source_object, text, limits),
    }
}

/// [`decode_json`] for any object: `Records` cut into records first, then each parsed.
fn decode_json_in_two_passes(
    source_object: &str,
    text: &[u8],
    limits: &DecodeLimits,
) -> Result<DecodedObject, (&'static str, String)> {
    let records: Vec<&RawValue> = match serde_json::from_slice::<TopLevelRecords>(text) {
        Ok(top) => top.records,
        // Slow path, only for broken objects: find out what exactly is wrong.
        Err(_) => {
            let top: TopLevel =
                serde_json::from_slice(text).map_err(|e| ("invalid-json", e.to_string()))?;
            let records_raw = top.records.ok_or((
                "no-records",
                "the object has no \"Records\" key".to_string(),
            ))?;
            serde_json::from_str(records_raw.get()).map_err(|e| {
                (
                    "no-records",
                    format!("\"Records\" is not an array of objects: {e}"),
                )
            })?
        }
    };
    let mut builder = EventsBuilder::new();
    let mut rejects = Vec::new();
    for (i, raw) in records.iter().enumerate() {
        let index = i as u32;
        let mut owned = None;
        match decode_record(raw.get(), index, &mut owned, limits) {
            Ok(row) => builder.push(&row, source_object),
            Err(why) => rejects.push(record_reject(index, why, raw.get(), limits)),
        }
    }
    Ok(DecodedObject {
        events: builder.finish(),
        rejects,
        records_seen: records.len(),
        object_error: None,
        sha256: None,
    })
}

/// Parse one record and its identity; on duplicate keys anywhere, re-read the record through
/// `serde_json::Value` (last key wins) into `owned` and parse that instead.
fn decode_record<'a>(
    text: &'a str,
    index: u32,
    owned: &'a mut Option<String>,
    limits: &DecodeLimits,
) -> Result<EventRow<'a>, (&'static str, String)> {
    if text.len() > limits.max_record_bytes {
        return Err((
            "too-large-record",
            format!(
                "the record is {} bytes, over the {}-byte cap (--max-record-mib)",
                text.len(),
                limits.max_record_bytes
            ),
        ));
    }
    if !text.trim_start().starts_with('{') {
        return Err(("not-an-object", "the record is not a JSON object".into()));
    }
    let (record, identity) = match parse_record(text) {
        Err(ParseFailure::DuplicateKey) => {
            let value: serde_json::Value =
                serde_json::from_str(text).map_err(|e| ("invalid-record", e.to_string()))?;
            let normalised: &'a str = owned.insert(value.to_string());
            parse_record(normalised)
        }
        other => other,
    }
    .map_err(ParseFailure::into_reject)?;
    finish_record(record, identity, text, index)
}

/// The row of a parsed record (`text` is the record as stored, for its digest when it has no
/// `eventID`), or why it is rejected.
fn finish_record<'a>(
    record: Record<'a>,
    identity: UserIdentity<'a>,
    text: &str,
    index: u32,
) -> Result<EventRow<'a>, (&'static str, String)> {
    let time_text = record.event_time.as_deref().ok_or((
        "missing-event-time",
        "the record has no eventTime".to_string(),
    ))?;
    let event_time = time::parse_event_time(time_text).ok_or_else(|| {
        (
            "invalid-event-time",
            format!("eventTime {:?} is not a timestamp", cap_text(time_text, 64)),
        )
    })?;
    let session_creation = identity
        .session_context
        .as_ref()
        .and_then(|c| c.attributes.as_ref())
        .and_then(|a| a.creation_date.as_deref())
        .and_then(time::parse_event_time);
    let dedup_key = match record.event_id.as_deref() {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => format!("sha256:{}", hex_digest(text.as_bytes())),
    };
    Ok(EventRow {
        record,
        identity,
        event_time,
        session_creation,
        dedup_key,
        index,
    })
}

enum ParseFailure {
    DuplicateKey,
    Record(String),
    Identity(String),
}

impl ParseFailure {
    fn into_reject(self) -> (&'static str, String) {
        match self {
            ParseFailure::DuplicateKey => ("invalid-record", "duplicate keys".into()),
            ParseFailure::Record(e) => ("invalid-record", e),
            ParseFailure::Identity(e) => ("invalid-user-identity", format!("userIdentity: {e}")),
        }
    }
}

fn classify_serde(e: serde_json::Error, wrap: fn(String) -> ParseFailure) -> ParseFailure {
    let msg = e.to_string();
    if msg.starts_with("duplicate field") {
        ParseFailure::DuplicateKey
    } else {
        wrap(msg)
    }
}

fn parse_record(text: &str) -> Result<(Record<'_>, UserIdentity<'_>), ParseFailure> {
    let record: Record =
        serde_json::from_str(text).map_err(|e| classify_serde(e, ParseFailure::Record))?;
    let identity = parse_identity(&record)?;
    Ok((record, identity))
}

fn parse_identity<'a>(record: &Record<'a>) -> Result<UserIdentity<'a>, ParseFailure> {
    Ok(match record.user_identity {
        // A non-object identity (a string, say) is kept raw in `user_identity` only.
        Some(raw) if raw.get().starts_with('{') => serde_json::from_str(raw.get())
            .map_err(|e| classify_serde(e, ParseFailure::Identity))?,
        _ => UserIdentity::default(),
    })
}

/// The reject of record `index` (`text` as stored), for why it could not be read.
fn record_reject(
    index: u32,
    (reason, detail): (&'static str, String),
    text: &str,
    limits: &DecodeLimits,
) -> Reject {
    Reject {
        record_index: Some(index),
        reason,
        detail,
        event_id: peek_event_id(text),
        raw: Some(cap_text(text, limits.max_reject_raw_bytes)),
    }
}

fn peek_event_id(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Id {
        #[serde(rename = "eventID")]
        event_id: Option<String>,
    }
    serde_json::from_str::<Id>(text)
        .ok()
        .and_then(|i| i.event_id)
}

fn cap_text(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn hex_digest(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Every CloudTrail object of the conformance corpus (`../shared/conformance`) and of
/// `sample-logs/`: what the tests that compare two readings run over.
#[cfg(test)]
pub(crate) fn corpus_objects() -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    let mut stack = vec![root.join("../shared/conformance"), root.join("sample-logs")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}")) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".json.gz") {
                files.push(path);
            }
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_uncompressed_bytes_are_hashed_only_when_asked() {
        let text = br#"{"Records":[{"eventTime":"2026-11-20T10:00:00Z","eventID":"a"}]}"#;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text).unwrap();
        let gz = e.finish().unwrap();
        let plain = decode_object("o", &gz, &DecodeLimits::default());
        assert_eq!(plain.sha256, None);
        let hashed = decode_object(
            "o",
            &gz,
            &DecodeLimits {
                sha256: true,
                ..Default::default()
            },
        );
        assert_eq!(
            hashed.sha256.as_deref(),
            Some(crate::integrity::digest::sha256_hex(text).as_str())
        );
        assert_eq!(hashed.events.num_rows(), 1);
    }

    /// A decoded object's batch waits in memory until its commit is written: it keeps no spare
    /// capacity of the builders that made it (~40% of a batch before).
    #[test]
    fn a_decoded_batch_holds_its_data_and_no_spare_capacity() {
        let (mut held, mut used, mut batches) = (0usize, 0usize, 0usize);
        for path in corpus_objects() {
            let bytes = std::fs::read(&path).unwrap();
            let events = decode_object("o", &bytes, &DecodeLimits::default()).events;
            if events.num_rows() == 0 {
                continue;
            }
            held += events.get_array_memory_size();
            used += events
                .columns()
                .iter()
                .map(|c| c.to_data().get_slice_memory_size().unwrap())
                .sum::<usize>();
            batches += 1;
        }
        assert!(batches > 50, "{batches}");
        // What is left beyond the data: each array's own struct and buffer handles (~5 KiB for
        // a batch's 47 columns; the builders' spare capacity was ~225 KiB a batch here).
        let overhead = held - used;
        assert!(
            overhead < batches * 8 * 1024,
            "{held} bytes held for {used} of data in {batches} batches"
        );
    }
}
