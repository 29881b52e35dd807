//! How lake files are encoded: one set of writer properties for every file delta-rs writes.
//!
//! zstd at level 1, page-level statistics so DataFusion can prune on `event_time`, and each
//! file's objects in the order of their delivery time so those statistics stay tight (see
//! `ingest`). Columns whose values are (nearly) all different skip dictionary
//! encoding: the writer would intern every value only to fall back to plain pages once the
//! dictionary outgrew its page. The JSON text columns keep no minimum and maximum: no filter can
//! use them, and comparing long texts cost ingest 2% of its CPU.
//!
//! Why level 1: on the benchmark's 1M events, level 3 spent 12–17% of ingest's CPU in zstd, and
//! level 1 wrote `events` no larger (104 MiB against 104–106): the pages are already dictionary-
//! and plain-encoded text of a few kinds, where level 3's longer matches find little more.

use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

/// Columns of `events` with a different value in (nearly) every row, or with so many values that
/// a file's dictionary outgrows its page: the JSON of the identity, of `additionalEventData` and
/// of the resources. For those three, the dictionary cost ingest's writer memory until it gave
/// up (10–16 MiB of peak RSS on 1M events, BENCHMARKS.md run R) and 1–3% of its CPU, for 1% of
/// `events`' size.
const DISTINCT_COLUMNS: &[&str] = &[
    "event_id",
    "dedup_key",
    "request_id",
    "request_parameters",
    "response_elements",
    "user_identity",
    "additional_event_data",
    "resources",
];

/// Columns of `events` holding JSON text: no statistics.
const JSON_COLUMNS: &[&str] = &[
    "user_identity",
    "request_parameters",
    "response_elements",
    "additional_event_data",
    "service_event_details",
    "resources",
    "tls_details",
    "insight_details",
];

/// The column of `events` and `facts_credentials` that lookups by key read.
const ACCESS_KEY: &str = "access_key_id";

/// Writer properties shared by every lake file.
pub fn writer_properties() -> WriterProperties {
    let builder = DISTINCT_COLUMNS
        .iter()
        .fold(WriterProperties::builder(), |b, c| {
            b.set_column_dictionary_enabled(ColumnPath::from(*c), false)
        });
    JSON_COLUMNS
        .iter()
        .fold(builder, |b, c| {
            b.set_column_statistics_enabled(ColumnPath::from(*c), EnabledStatistics::None)
        })
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap_or_default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(1 << 20))
        // A Bloom filter of the access keys (sized for a full row group, folded to the keys it
        // holds): looking a few keys up, in the credential facts or the events, skips the row
        // groups that cannot hold them, where their statistics (random keys) cannot tell.
        .set_column_bloom_filter_fpp(ColumnPath::from(ACCESS_KEY), 0.01)
        .set_column_bloom_filter_max_ndv(ColumnPath::from(ACCESS_KEY), 1 << 20)
        .build()
}
