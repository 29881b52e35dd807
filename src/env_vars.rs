//! Every environment variable agenttrail reads, in one place.

/// Log filter in `tracing` EnvFilter syntax (overrides `-v`/`-q`).
pub const LOG: &str = "AGENTTRAIL_LOG";
/// `text` or `json`: the shape of stderr (default for `--log-format`).
pub const LOG_FORMAT: &str = "AGENTTRAIL_LOG_FORMAT";
/// Default for `--public-keys`: CloudTrail public keys (ListPublicKeys JSON).
pub const PUBLIC_KEYS: &str = "AGENTTRAIL_PUBLIC_KEYS";
/// Default for `--lake`.
pub const LAKE: &str = "AGENTTRAIL_LAKE";
/// Default for `--source`.
pub const SOURCE: &str = "AGENTTRAIL_SOURCE";
/// Force (`true`) or disable (`false`) path-style S3 addressing.
pub const S3_PATH_STYLE: &str = "AGENTTRAIL_S3_PATH_STYLE";
/// Path of the configuration file (default `./agenttrail.toml` when present).
pub const CONFIG: &str = "AGENTTRAIL_CONFIG";
/// Where the shell keeps its history (default `$XDG_CACHE_HOME/agenttrail`, else `~/.cache/agenttrail`).
pub const CACHE_DIR: &str = "AGENTTRAIL_CACHE_DIR";

/// The instant agenttrail takes as now for windows and CloudWatch's 14-day limit (RFC 3339;
/// for replaying old logs; see `clock`). Leases and the lake's own timestamps keep the real clock.
pub const NOW: &str = "AGENTTRAIL_NOW";

/// Lease time in seconds of the writer lease on an S3 lake (default 1800; renewed every third).
pub const LEASE_SECONDS: &str = "AGENTTRAIL_LEASE_SECONDS";

/// MiB that a query's sorts and groupings may hold together before they spill to temporary files
/// (default 256; `0` for no limit; see `query::memory`). Temporary files go to `TMPDIR`.
pub const SPILL_MEMORY_MIB: &str = "AGENTTRAIL_SPILL_MEMORY_MIB";

/// The most events of a windowed context whose ids (access key, request id, sign-in session) are
/// held in memory while its correlation tables are built (default 1,048,576, ~60 bytes each;
/// `0`: never, each fact table is then looked up by streaming the window's events; see
/// `query::sessions`).
pub const RANGE_IDS_MAX_ROWS: &str = "AGENTTRAIL_RANGE_IDS_MAX_ROWS";

/// The whole number in variable `name`, or `default` when it is unset or empty. An unreadable
/// value is an error naming the variable and what it should hold (`expected`).
pub fn whole_number(name: &str, default: usize, expected: &str) -> Result<usize, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<usize>()
            .map_err(|_| format!("{name}={v:?}: expected {expected}")),
        _ => Ok(default),
    }
}

/// The cache folder (shell history).
pub fn cache_dir() -> std::path::PathBuf {
    if let Some(d) = std::env::var_os(CACHE_DIR).filter(|d| !d.is_empty()) {
        return d.into();
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return std::path::PathBuf::from(d).join("agenttrail");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    std::path::PathBuf::from(home)
        .join(".cache")
        .join("agenttrail")
}
