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
        .build()
}
