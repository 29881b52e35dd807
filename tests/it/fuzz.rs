//! Property-based fuzzing of the decoder and the key parser (proptest).
//!
//! Inputs are built from the real records of `../shared/conformance/` and damaged the way logs
//! and attackers damage them; the properties are the promises of the decode stage:
//! - nothing panics, whatever the bytes;
//! - every record is accounted for: accepted, or rejected with its index and a known reason; an
//!   object-level failure is one reject without an index;
//! - damage inside one record costs only that record;
//! - a truncated object keeps every record that ends before the cut;
//! - a key in CloudTrail's layout parses to exactly its fields; any other string is refused or
//!   parsed consistently.
//!
//! In CI each property runs proptest's default 256 cases, after the committed regressions (the
//! shrunk failures in `tests/it/fuzz.proptest-regressions`) and the corpus in `tests/fuzz-corpus/`.
//! The long run is `PROPTEST_CASES=… cargo test --release --test it fuzz` (see the README).

use std::collections::BTreeSet;
use std::sync::OnceLock;

use agenttrail::decode::{DecodeLimits, DecodedObject, decode_object};
use agenttrail::source::key::{ObjectKind, parse_key};
use arrow::array::{Array, Int64Array, StringArray};
use proptest::prelude::*;
use serde_json::value::RawValue;

use crate::util::{conformance, gz, log_files, repo};

/// Every reason code a reject may carry.
const REASONS: &[&str] = &[
    "empty-object",
    "not-gzip",
    "too-large",
    "corrupt-gzip",
    "invalid-json",
    "no-records",
    "invalid-utf8",
    "truncated-record",
    "not-an-object",
    "invalid-record",
    "invalid-user-identity",
    "missing-event-time",
    "invalid-event-time",
    "too-large-record",
];

fn limits() -> DecodeLimits {
    DecodeLimits {
        max_decompressed_bytes: 4 << 20,
        max_record_bytes: 64 << 10,
        max_reject_raw_bytes: 1 << 10,
        sha256: true,
    }
}

/// The records of the conformance corpus, as JSON text, in a stable order.
fn seeds() -> &'static [String] {
    static SEEDS: OnceLock<Vec<String>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut out = Vec::new();
        for f in log_files(&conformance()) {
            let mut text = String::new();
            use std::io::Read;
            flate2::read::MultiGzDecoder::new(std::fs::File::open(&f).unwrap())
                .read_to_string(&mut text)
                .unwrap();
            #[derive(serde::Deserialize)]
            struct Top<'a> {
                #[serde(borrow, rename = "Records")]
                records: Vec<&'a RawValue>,
            }
            if let Ok(top) = serde_json::from_str::<Top>(&text) {
                out.extend(top.records.iter().map(|r| r.get().to_string()));
            }
        }
        assert!(out.len() > 2000, "the conformance corpus is there");
        out
    })
}

/// The accepted events of a decoded object, as (source_index, dedup_key).
fn accepted(d: &DecodedObject) -> BTreeSet<(u32, String)> {
    let b = &d.events;
    let idx = b
        .column_by_name("source_index")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    let key = b
        .column_by_name("dedup_key")
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    (0..b.num_rows())
        .map(|r| {
            (
                u32::try_from(idx.value(r)).unwrap(),
                key.value(r).to_string(),
            )
        })
        .collect()
}

/// The invariants that hold for any input.
fn check_accounting(d: &DecodedObject, what: &str) {
    for r in &d.rejects {
        assert!(REASONS.contains(&r.reason), "{what}: unknown reason {r:?}");
        assert!(!r.detail.is_empty(), "{what}: {r:?}");
        if let Some(raw) = &r.raw {
            // Capped, with room for the marker saying so.
            assert!(raw.len() <= limits().max_reject_raw_bytes + 64, "{what}");
        }
    }
    let whole: Vec<_> = d
        .rejects
        .iter()
        .filter(|r| r.record_index.is_none())
        .collect();
    assert_eq!(
        whole.len(),
        usize::from(d.object_error.is_some()),
        "{what}: one object-level reject exactly when the object failed: {:?}",
        d.rejects
    );
    let mut indexes: BTreeSet<u32> = d.rejects.iter().filter_map(|r| r.record_index).collect();
    let rejected = indexes.len();
    assert_eq!(
        rejected,
        d.rejects.len() - whole.len(),
        "{what}: one reject per record"
    );
    for (i, _) in accepted(d) {
        assert!(
            indexes.insert(i),
            "{what}: record {i} both kept and rejected"
        );
    }
    assert_eq!(
        d.events.num_rows() + rejected,
        d.records_seen,
        "{what}: every record seen is kept or rejected"
    );
    assert!(
        indexes.iter().all(|&i| (i as usize) < d.records_seen),
        "{what}"
    );
}

fn object(records: &[String]) -> Vec<u8> {
    format!("{{\"Records\":[{}]}}", records.join(",")).into_bytes()
}

fn decode(text: &[u8]) -> DecodedObject {
    decode_object("fuzz.json.gz", &gz(text), &limits())
}

/// Bytes that may appear inside a JSON string without ending it: control characters, NUL,
/// invalid UTF-8, escapes of every kind, and plain text.
fn string_damage() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        0x00u8..0x20,
        0x80u8..=0xff,
        prop::sample::select(b"abcXYZ09 {}[],:%".to_vec()),
    ];
    let piece = prop_oneof![
        prop::collection::vec(byte, 1..8),
        prop::sample::select(vec![
            b"\\u0000".to_vec(),
            b"\\ud800".to_vec(),
            b"\\udc00\\ud800".to_vec(),
            b"\\\"".to_vec(),
            b"\\\\".to_vec(),
            b"\\x".to_vec(),
            b"\\u12".to_vec(),
            "\u{202e}\u{1b}[2J".as_bytes().to_vec(),
        ]),
    ];
    prop::collection::vec(piece, 1..4).prop_map(|v| v.concat())
}

/// A JSON value to put where a record or a field's value should be.
fn hostile_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("1e400".to_string()),
        Just("-0.0".to_string()),
        Just("123456789012345678901234567890".to_string()),
        "[a-zA-Z0-9 ]{0,12}".prop_map(|s| format!("\"{s}\"")),
        (1usize..3000).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n))),
        (1usize..3000).prop_map(|n| format!("{}{}", "{\"a\":".repeat(n), "}".repeat(n))),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-zA-Z]{1,12}", inner), 0..4).prop_map(|kv| {
                let fields: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

/// One record damaged in place; the damage never crosses the record's own brackets.
#[derive(Debug, Clone)]
enum Damage {
    /// Bytes inserted inside a string value.
    InString(usize, Vec<u8>),
    /// A field's value replaced (type swaps, deep nesting, huge numbers).
    Value(usize, String),
    /// The whole record replaced by another JSON value.
    Record(String),
    /// A field repeated with another value (duplicate keys).
    Duplicate(usize, String),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), string_damage()).prop_map(|(p, b)| Damage::InString(p, b)),
        (any::<usize>(), hostile_value()).prop_map(|(p, v)| Damage::Value(p, v)),
        hostile_value().prop_map(Damage::Record),
        (any::<usize>(), hostile_value()).prop_map(|(p, v)| Damage::Duplicate(p, v)),
    ]
}

/// Byte-level JSON string tracking: whether the scan is inside a string literal.
#[derive(Default)]
struct Strings {
    in_str: bool,
    esc: bool,
}

impl Strings {
    /// Feed one byte; true when it closes a string.
    fn closes(&mut self, c: u8) -> bool {
        if self.in_str {
            if self.esc {
                self.esc = false;
            } else if c == b'\\' {
                self.esc = true;
            } else if c == b'"' {
                self.in_str = false;
                return true;
            }
        } else if c == b'"' {
            self.in_str = true;
        }
        false
    }
}

fn skip_ws(b: &[u8], mut j: usize) -> usize {
    while j < b.len() && b[j].is_ascii_whitespace() {
        j += 1;
    }
    j
}

/// Where the values of object members start (after `"key":`), and, for string values, the
/// offset just inside their opening quote. Strings are tracked, so `\":` inside a string (an
/// embedded policy document, say) is not taken for a key.
fn value_starts(rec: &str) -> (Vec<usize>, Vec<usize>) {
    let b = rec.as_bytes();
    let (mut strings, mut values) = (Vec::new(), Vec::new());
    let mut scan = Strings::default();
    for (i, &c) in b.iter().enumerate() {
        if scan.closes(c) {
            let j = skip_ws(b, i + 1);
            if b.get(j) == Some(&b':') {
                let v = skip_ws(b, j + 1);
                values.push(v);
                if b.get(v) == Some(&b'"') {
                    strings.push(v + 1);
                }
            }
        }
    }
    (strings, values)
}

/// The end of the JSON value starting at `start` (a string, number, literal, object or array).
fn value_end(b: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut scan = Strings::default();
    for (i, &c) in b.iter().enumerate().skip(start) {
        let was_in_str = scan.in_str;
        if scan.closes(c) && depth == 0 {
            return i + 1;
        }
        if was_in_str || scan.in_str {
            continue;
        }
        match c {
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            b',' | b'}' | b']' if depth == 0 => return i,
            _ => {}
        }
    }
    b.len()
}

fn apply(rec: &str, d: &Damage) -> Vec<u8> {
    let (strings, values) = value_starts(rec);
    let b = rec.as_bytes();
    match d {
        Damage::InString(p, bytes) if !strings.is_empty() => {
            let at = strings[p % strings.len()];
            [&b[..at], bytes.as_slice(), &b[at..]].concat()
        }
        Damage::Value(p, v) if !values.is_empty() => {
            let at = values[p % values.len()];
            let end = value_end(b, at);
            [&b[..at], v.as_bytes(), &b[end..]].concat()
        }
        Damage::Duplicate(p, v) if !values.is_empty() => {
            // `"key":old` becomes `"key":old,"key":v`.
            let at = values[p % values.len()];
            // The key is the string that ends just before the colon.
            let colon = b[..at].iter().rposition(|&c| c == b':').unwrap();
            let close = b[..colon].iter().rposition(|&c| c == b'"').unwrap();
            let mut open = close - 1;
            while b[open] != b'"' || b[open - 1] == b'\\' {
                open -= 1;
            }
            let end = value_end(b, at);
            let key = &b[open..=close];
            [&b[..end], b",", key, b":", v.as_bytes(), &b[end..]].concat()
        }
        Damage::Record(v) => v.clone().into_bytes(),
        _ => b"{}".to_vec(),
    }
}

fn pick(seed: usize, n: usize) -> Vec<String> {
    let all = seeds();
    (0..n)
        .map(|k| all[(seed + k * 7919) % all.len()].clone())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct("tests/it/fuzz.proptest-regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn fuzz_arbitrary_bytes_never_panic_and_every_record_is_accounted_for(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        wrap in 0u8..3,
    ) {
        let text = match wrap {
            0 => bytes,
            1 => [b"{\"Records\":[".as_ref(), &bytes].concat(),
            _ => [b"{\"Records\":[".as_ref(), &bytes, b"]}"].concat(),
        };
        check_accounting(&decode_object("fuzz.json.gz", &text, &limits()), "raw");
        check_accounting(&decode(&text), "gzipped");
    }

    #[test]
    fn fuzz_damage_inside_one_record_costs_only_that_record(
        seed in any::<usize>(),
        n in 1usize..6,
        victim in any::<usize>(),
        d in damage(),
    ) {
        let records = pick(seed, n);
        let victim = victim % n;
        let before = decode(&object(&records));
        check_accounting(&before, "undamaged");
        let mut damaged: Vec<Vec<u8>> = records.iter().map(|r| r.clone().into_bytes()).collect();
        damaged[victim] = apply(&records[victim], &d);
        let mut text = b"{\"Records\":[".to_vec();
        text.extend(damaged.join(&b","[..]));
        text.extend_from_slice(b"]}");
        let after = decode(&text);
        check_accounting(&after, "damaged");
        prop_assert!(after.object_error.is_none(), "{:?}", after.object_error);
        prop_assert_eq!(after.records_seen, n);
        let others = |s: BTreeSet<(u32, String)>| -> BTreeSet<(u32, String)> {
            s.into_iter().filter(|(i, _)| *i as usize != victim).collect()
        };
        // Records without an eventID are keyed by a digest of their own text: unchanged.
        prop_assert_eq!(others(accepted(&after)), others(accepted(&before)));
    }

    #[test]
    fn fuzz_a_truncated_object_keeps_every_record_before_the_cut(
        seed in any::<usize>(),
        n in 1usize..6,
        cut in any::<prop::sample::Index>(),
        gzip_cut in any::<bool>(),
    ) {
        let records = pick(seed, n);
        let text = object(&records);
        let whole = decode(&text);
        let d = if gzip_cut {
            let z = gz(&text);
            let at = cut.index(z.len());
            decode_object("fuzz.json.gz", &z[..at], &limits())
        } else {
            let at = cut.index(text.len());
            let d = decode(&text[..at]);
            // Records that end before the cut are all kept.
            let mut end = "{\"Records\":[".len();
            let mut complete = 0;
            for r in &records {
                end += r.len();
                if end <= at { complete += 1; }
                end += 1;
            }
            let want: BTreeSet<_> = accepted(&whole).into_iter().filter(|(i, _)| (*i as usize) < complete).collect();
            let got = accepted(&d);
            prop_assert!(want.is_subset(&got), "cut at {}: lost {:?}", at, want.difference(&got).collect::<Vec<_>>());
            d
        };
        check_accounting(&d, "truncated");
        prop_assert!(accepted(&d).is_subset(&accepted(&whole)), "nothing is invented");
    }

    #[test]
    fn fuzz_keys_in_cloudtrail_layout_parse_to_their_fields(
        prefix in "([a-z0-9-]{1,8}/){0,3}",
        org in proptest::option::of("o-[a-z0-9]{10}"),
        account in "[0-9]{12}",
        kind in 0usize..3,
        region in "[a-z]{2}-[a-z]{4,9}-[1-9]",
        date in (1990i32..2100, 1u32..13, 1u32..29),
        file in "[A-Za-z0-9_]{1,40}\\.json\\.gz",
    ) {
        let kinds = [("CloudTrail", ObjectKind::Log), ("CloudTrail-Insight", ObjectKind::Insight), ("CloudTrail-Digest", ObjectKind::Digest)];
        let org_part = org.as_ref().map(|o| format!("{o}/")).unwrap_or_default();
        let key = format!(
            "{prefix}AWSLogs/{org_part}{account}/{}/{region}/{:04}/{:02}/{:02}/{file}",
            kinds[kind].0, date.0, date.1, date.2
        );
        let parsed = parse_key(&key).unwrap_or_else(|| panic!("{key}"));
        prop_assert_eq!(parsed.org_id, org);
        prop_assert_eq!(parsed.account, account);
        prop_assert_eq!(parsed.kind, kinds[kind].1);
        prop_assert_eq!(parsed.region, region);
        prop_assert_eq!(parsed.date.to_string(), format!("{:04}-{:02}-{:02}", date.0, date.1, date.2));
    }

    #[test]
    fn fuzz_any_key_is_refused_or_parsed_consistently(key in "\\PC{0,120}|(.{0,20}AWSLogs/.{0,80})") {
        if let Some(k) = parse_key(&key) {
            prop_assert!(k.account.len() == 12 && k.account.bytes().all(|b| b.is_ascii_digit()), "{:?}", k);
            prop_assert!(!k.region.is_empty() && !k.region.contains('/'));
            let region = format!("/{}/", k.region);
            prop_assert!(key.contains(&region), "{:?} in {:?}", region, key);
        }
    }
}

/// Every input in `tests/fuzz-corpus/` (inputs that once broke a promise, or probe an edge),
/// decoded raw and gzipped, keeps the invariants; its expected outcome is in its name.
#[test]
fn fuzz_corpus_inputs_keep_the_invariants() {
    let dir = repo().join("tests/fuzz-corpus");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for (how, d) in [
            ("raw", decode_object(&name, &bytes, &limits())),
            ("gzipped", decode(&bytes)),
        ] {
            check_accounting(&d, &format!("{name} ({how})"));
        }
        // `<kept>-kept_<rejected>-rejected_<what>.json`: the outcome of the gzipped text.
        let d = decode(&bytes);
        let mut parts = name.split('_');
        let kept: usize = parts
            .next()
            .unwrap()
            .trim_end_matches("-kept")
            .parse()
            .unwrap();
        let rejected: usize = parts
            .next()
            .unwrap()
            .trim_end_matches("-rejected")
            .parse()
            .unwrap();
        assert_eq!(
            (d.events.num_rows(), d.rejects.len()),
            (kept, rejected),
            "{name}: {:?}",
            d.rejects
        );
        n += 1;
    }
    assert!(n >= 10, "the corpus is there: {n} inputs");
}

/// A real digest of sample-logs/ (signed with the test key) and its signature.
fn sample_digest() -> &'static (Vec<u8>, String) {
    static D: OnceLock<(Vec<u8>, String)> = OnceLock::new();
    D.get_or_init(|| {
        let dir =
            repo().join("sample-logs/AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2026/11/20");
        let path = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
            .min()
            .unwrap();
        let bytes =
            agenttrail::decode::gzip::gunzip_capped(&std::fs::read(&path).unwrap(), 1 << 20)
                .unwrap();
        let meta: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{}.metadata.json", path.display())).unwrap(),
        )
        .unwrap();
        (bytes, meta["signature"].as_str().unwrap().to_string())
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(
            "tests/it/fuzz.proptest-regressions",
        ))),
        ..ProptestConfig::default()
    })]

    /// The digest parser, the key-name parser and the DER reader take any input without panic.
    #[test]
    fn fuzz_digest_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), key in "\\PC{0,160}") {
        let _ = agenttrail::integrity::digest::Digest::parse(&bytes);
        let _ = agenttrail::integrity::keys::rsa_public_key(&bytes);
        if let Some(k) = agenttrail::integrity::digest::parse_digest_key(&key) {
            prop_assert!(key.contains("/CloudTrail-Digest/"));
            prop_assert!(key.contains(&k.account));
        }
        let _ = agenttrail::integrity::digest::log_file_time(&key);
    }

    /// Any change to a signed digest's bytes is caught: it no longer parses, or its signature no
    /// longer verifies. Never a panic, never a pass.
    #[test]
    fn fuzz_a_damaged_digest_never_verifies(at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let (bytes, sig) = sample_digest();
        let mut damaged = bytes.clone();
        let i = at.index(damaged.len());
        if cut {
            damaged.truncate(i);
        } else {
            prop_assume!(damaged[i] != byte);
            damaged[i] = byte;
        }
        let keys = agenttrail::integrity::keys::PublicKeys::from_json(
            &std::fs::read_to_string(repo().join("sample-logs/public-keys.json")).unwrap(),
        )
        .unwrap();
        if let Ok(d) = agenttrail::integrity::digest::Digest::parse(&damaged) {
            let sha = agenttrail::integrity::digest::sha256_hex(&damaged);
            let key = keys.find(&d.digest_public_key_fingerprint);
            let ok = key.is_some_and(|k| agenttrail::integrity::keys::verify_signature(
                k,
                d.signing_string(&sha).as_bytes(),
                &hex::decode(sig).unwrap(),
            ));
            prop_assert!(!ok, "a damaged digest verified");
        }
    }
}

#[test]
fn the_undamaged_sample_digest_verifies() {
    // The property above is only meaningful if the intact digest does verify.
    let (bytes, sig) = sample_digest();
    let keys = agenttrail::integrity::keys::PublicKeys::from_json(
        &std::fs::read_to_string(repo().join("sample-logs/public-keys.json")).unwrap(),
    )
    .unwrap();
    let d = agenttrail::integrity::digest::Digest::parse(bytes).unwrap();
    let k = keys.find(&d.digest_public_key_fingerprint).unwrap();
    let sha = agenttrail::integrity::digest::sha256_hex(bytes);
    assert!(agenttrail::integrity::keys::verify_signature(
        k,
        d.signing_string(&sha).as_bytes(),
        &hex::decode(sig).unwrap()
    ));
}
