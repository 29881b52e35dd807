//! The common object in one pass: `{"Records":[…]}` with every record well formed.
//!
//! The general path (`decode_json`) reads an object twice: once to cut `Records` into records
//! (serde skips every byte of each), then each record into its fields. Here each record is parsed
//! straight from the object's bytes, and its text (for its digest or a reject) is the span the
//! parser consumed. That was 7% of ingest's CPU on the benchmark's 1M events.
//!
//! It declines, and `decode_json` reads the object as before, at the first thing it does not
//! handle in exactly the same way: a top level other than `{"Records":[…]}`, an element that is
//! not an object or does not parse (duplicate keys, wrong types, bad UTF-8), an identity that
//! does not parse, a record over the size cap. So every reject and every row is what the general
//! path makes of the object; only well-formed objects take this path.

use serde_json::Deserializer;

use super::record::Record;
use super::to_arrow::EventsBuilder;
use super::{DecodeLimits, DecodedObject, finish_record, parse_identity, record_reject};

/// The object's rows and rejects, or `None` when the general path must read it.
pub(super) fn decode(
    source_object: &str,
    text: &[u8],
    limits: &DecodeLimits,
) -> Option<DecodedObject> {
    // Checked once as a whole, the text is parsed as `str`: serde then checks no string again,
    // nor does the span of each record. An object with bad UTF-8 anywhere takes the general path,
    // which rejects just the records holding it.
    let whole = std::str::from_utf8(text).ok()?;
    let mut pos = records_start(text)?;
    let mut builder = EventsBuilder::new();
    let mut rejects = Vec::new();
    let mut seen = 0usize;
    if text.get(skip_space(text, pos)) == Some(&b']') {
        pos = skip_space(text, pos) + 1;
    } else {
        loop {
            let start = skip_space(text, pos);
            if text.get(start) != Some(&b'{') {
                return None;
            }
            let mut stream = Deserializer::from_str(&whole[start..]).into_iter::<Record>();
            let record = stream.next()?.ok()?;
            let end = start + stream.byte_offset();
            if end - start > limits.max_record_bytes {
                return None;
            }
            let raw = &whole[start..end];
            let identity = parse_identity(&record).ok()?;
            let index = u32::try_from(seen).ok()?;
            match finish_record(record, identity, raw, index) {
                Ok(row) => builder.push(&row, source_object),
                Err(why) => rejects.push(record_reject(index, why, raw, limits)),
            }
            seen += 1;
            let next = skip_space(text, end);
            match text.get(next) {
                Some(b',') => pos = next + 1,
                Some(b']') => {
                    pos = next + 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    // Nothing but the closing brace may follow.
    let close = skip_space(text, pos);
    if text.get(close) != Some(&b'}') || skip_space(text, close + 1) != text.len() {
        return None;
    }
    Some(DecodedObject {
        events: builder.finish(),
        rejects,
        records_seen: seen,
        object_error: None,
        sha256: None,
    })
}

/// The offset just past the `[` of `{"Records":[`, whitespace allowed between the tokens.
fn records_start(text: &[u8]) -> Option<usize> {
    let mut pos = 0;
    for token in [&b"{"[..], b"\"Records\"", b":", b"["] {
        pos = skip_space(text, pos);
        if !text[pos..].starts_with(token) {
            return None;
        }
        pos += token.len();
    }
    Some(pos)
}

/// The first offset at or after `pos` that is not JSON whitespace.
fn skip_space(text: &[u8], pos: usize) -> usize {
    pos + text
        .get(pos..)
        .unwrap_or_default()
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (record index, reason) of a reject.
    type Rejected = (Option<u32>, &'static str);

    fn rows_and_rejects(text: &str) -> Option<(usize, Vec<Rejected>)> {
        decode("o", text.as_bytes(), &DecodeLimits::default()).map(|d| {
            (
                d.events.num_rows(),
                d.rejects
                    .iter()
                    .map(|r| (r.record_index, r.reason))
                    .collect(),
            )
        })
    }

    #[test]
    fn well_formed_objects_are_read_in_one_pass() {
        let two = r#" { "Records" : [ {"eventTime":"2026-11-20T10:00:00Z","eventID":"a"} ,
            {"eventID":"b"} ] } "#;
        assert_eq!(
            rows_and_rejects(two),
            Some((1, vec![(Some(1), "missing-event-time")]))
        );
        assert_eq!(rows_and_rejects(r#"{"Records":[]}"#), Some((0, vec![])));
    }

    #[test]
    fn anything_else_is_left_to_the_general_path() {
        for text in [
            // Another key, before or after.
            r#"{"x":1,"Records":[]}"#,
            r#"{"Records":[],"x":1}"#,
            // An element that is not an object, or an array that deserializes as a struct.
            r#"{"Records":["a"]}"#,
            r#"{"Records":[[]]}"#,
            // Duplicate keys, in the record or its identity; a bad escape.
            r#"{"Records":[{"eventID":"a","eventID":"b"}]}"#,
            r#"{"Records":[{"eventID":"\q"}]}"#,
            r#"{"Records":[{"userIdentity":{"type":"a","type":"b"}}]}"#,
            // Broken JSON, trailing bytes.
            r#"{"Records":[{"eventID":"a"}"#,
            r#"{"Records":[{"eventID":"a"}]} x"#,
            r#"{"Records":[{"eventID":"a"},]}"#,
        ] {
            assert_eq!(rows_and_rejects(text), None, "{text}");
        }
        let limits = DecodeLimits {
            max_record_bytes: 10,
            ..DecodeLimits::default()
        };
        let big = br#"{"Records":[{"eventID":"abcdefghijk"}]}"#;
        assert!(decode("o", big, &limits).is_none());
        // Bad UTF-8, in a field read or in one skipped.
        for bad in [
            &b"{\"Records\":[{\"eventID\":\"a\xff\"}]}"[..],
            b"{\"Records\":[{\"eventID\":\"a\",\"other\":\"\xc3\"}]}",
        ] {
            assert!(decode("o", bad, &DecodeLimits::default()).is_none());
        }
    }

    /// Every object of the conformance corpus and of `sample-logs/` that this path takes decodes
    /// to the same rows and rejects as through the general path.
    #[test]
    fn every_object_it_takes_decodes_as_the_general_path_decodes_it() {
        let files = super::super::corpus_objects();
        let limits = DecodeLimits::default();
        let (mut taken, mut declined) = (0, 0);
        for file in &files {
            let bytes = std::fs::read(file).unwrap();
            let Ok(text) = super::super::gzip::gunzip_capped(&bytes, 1 << 30) else {
                continue;
            };
            let general = super::super::decode_json_in_two_passes("o", &text, &limits);
            match decode("o", &text, &limits) {
                Some(one) => {
                    let general = general.unwrap_or_else(|e| panic!("{file:?}: {e:?}"));
                    assert_eq!(one.events, general.events, "{file:?}");
                    assert_eq!(one.rejects, general.rejects, "{file:?}");
                    assert_eq!(one.records_seen, general.records_seen, "{file:?}");
                    taken += 1;
                }
                None => declined += 1,
            }
        }
        // The corpus holds objects of both kinds (445 conformance files, 30 of sample-logs).
        assert!(taken > 400, "{taken} taken, {declined} declined");
        assert!(declined > 0, "{taken} taken, {declined} declined");
    }
}
