//! How lake files are encoded: one set of writer properties for every file delta-rs writes.
//!
//! zstd (level 3) for size, page-level statistics so DataFusion can prune on `event_time`, and
//! rows sorted by `event_time` within each file so those statistics are tight.

use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

/// Writer properties shared by every lake file.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(1 << 20))
        .build()
}
