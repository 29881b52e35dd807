//! How lake files are encoded: one set of writer properties for every file.
//!
//! zstd (level 3) for size, page-level statistics so DataFusion can prune on `event_time`, and
//! rows sorted by `event_time` within each file so those statistics are tight.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::SinkError;

/// Writer properties shared by every lake file.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(1 << 20))
        .build()
}

/// Write `batches` to `path` completely and fsync it. Returns the file size.
pub fn write_file(path: &Path, batches: &[RecordBatch]) -> Result<u64, SinkError> {
    let Some(first) = batches.first() else {
        return Err(SinkError::Write {
            path: path.display().to_string(),
            message: "no rows".into(),
        });
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| SinkError::io(dir, e))?;
    }
    let werr = |e: parquet::errors::ParquetError| SinkError::Write {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let file = File::create(path).map_err(|e| SinkError::io(path, e))?;
    let mut writer =
        ArrowWriter::try_new(file, first.schema(), Some(writer_properties())).map_err(werr)?;
    for b in batches {
        writer.write(b).map_err(werr)?;
    }
    let mut file = writer.into_inner().map_err(werr)?;
    file.flush().map_err(|e| SinkError::io(path, e))?;
    file.sync_all().map_err(|e| SinkError::io(path, e))?;
    let len = file.metadata().map_err(|e| SinkError::io(path, e))?.len();
    Ok(len)
}
