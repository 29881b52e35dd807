//! How lake files are encoded: one set of writer properties for every file delta-rs writes.
//!
//! zstd (level 3) for size, page-level statistics so DataFusion can prune on `event_time`, and
//! rows sorted by `event_time` within each file so those statistics are tight. Columns whose
//! values are (nearly) all different skip dictionary encoding: the writer would intern every
//! value only to fall back to plain pages once the dictionary outgrew its page.

use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

/// Columns of `events` with a different value in (nearly) every row.
const DISTINCT_COLUMNS: &[&str] = &[
    "event_id",
    "dedup_key",
    "request_id",
    "request_parameters",
    "response_elements",
];

/// The column of `events` and `facts_credentials` that lookups by key read.
const ACCESS_KEY: &str = "access_key_id";

/// Writer properties shared by every lake file.
pub fn writer_properties() -> WriterProperties {
    DISTINCT_COLUMNS
        .iter()
        .fold(WriterProperties::builder(), |b, c| {
            b.set_column_dictionary_enabled(ColumnPath::from(*c), false)
        })
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(1 << 20))
        // A Bloom filter of the access keys (sized for a full row group, folded to the keys it
        // holds): looking a few keys up, in the credential facts or the events, skips the row
        // groups that cannot hold them, where their statistics (random keys) cannot tell.
        .set_column_bloom_filter_fpp(ColumnPath::from(ACCESS_KEY), 0.01)
        .set_column_bloom_filter_max_ndv(ColumnPath::from(ACCESS_KEY), 1 << 20)
        .build()
}
