//! Gzip with the two properties CloudTrail objects need: multi-member streams and a cap.
//!
//! A gzip file may hold several concatenated members (tools that append produce them); a plain
//! `GzDecoder` stops after the first and silently drops the rest. The decompressed size is capped
//! so that a gzip bomb costs at most the cap in memory, never the machine.

use std::io::Read;

use flate2::read::MultiGzDecoder;

/// Why a body could not be decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GzipError {
    /// Zero bytes.
    Empty,
    /// Does not start with the gzip magic bytes.
    NotGzip,
    /// Decompresses to more than the cap.
    TooLarge(u64),
    /// Corrupt or truncated stream.
    Corrupt(String),
}

impl std::fmt::Display for GzipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GzipError::Empty => f.write_str("the object is empty"),
            GzipError::NotGzip => f.write_str("the object is not gzip (bad magic bytes)"),
            GzipError::TooLarge(cap) => {
                write!(f, "the object decompresses to more than the {cap}-byte cap")
            }
            GzipError::Corrupt(e) => write!(f, "corrupt or truncated gzip: {e}"),
        }
    }
}

/// Decompress every member of `input`, failing past `cap` decompressed bytes.
pub fn gunzip_capped(input: &[u8], cap: u64) -> Result<Vec<u8>, GzipError> {
    if input.is_empty() {
        return Err(GzipError::Empty);
    }
    if input.len() < 2 || input[0] != 0x1f || input[1] != 0x8b {
        return Err(GzipError::NotGzip);
    }
    let mut out = Vec::with_capacity(input.len().saturating_mul(8).min(cap as usize));
    let mut reader = MultiGzDecoder::new(input).take(cap.saturating_add(1));
    reader
        .read_to_end(&mut out)
        .map_err(|e| GzipError::Corrupt(e.to_string()))?;
    if out.len() as u64 > cap {
        return Err(GzipError::TooLarge(cap));
    }
    Ok(out)
}

/// Decompress as much of `input` as can be read, up to `cap` bytes, ignoring the error that
/// stopped it (used to keep the complete records before the damage of a truncated object).
pub fn gunzip_partial(input: &[u8], cap: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut reader = MultiGzDecoder::new(input).take(cap);
    let mut buf = [0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn reads_every_member() {
        let mut two = gz(b"hello ");
        two.extend(gz(b"world"));
        assert_eq!(gunzip_capped(&two, 1 << 20).unwrap(), b"hello world");
    }

    #[test]
    fn rejects_bad_input_with_a_reason() {
        assert_eq!(gunzip_capped(b"", 10), Err(GzipError::Empty));
        assert_eq!(
            gunzip_capped(b"{\"Records\":[]}", 10),
            Err(GzipError::NotGzip)
        );
        let full = gz(&vec![b'a'; 10_000]);
        assert!(matches!(
            gunzip_capped(&full[..full.len() / 2], 1 << 20),
            Err(GzipError::Corrupt(_))
        ));
        assert_eq!(gunzip_capped(&full, 9_999), Err(GzipError::TooLarge(9_999)));
        assert_eq!(gunzip_capped(&full, 10_000).unwrap().len(), 10_000);
    }
}
