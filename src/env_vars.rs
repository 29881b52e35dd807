//! Every environment variable agenttrail reads, in one place.

/// Log filter in `tracing` EnvFilter syntax (overrides `-v`/`-q`).
pub const LOG: &str = "AGENTTRAIL_LOG";
/// Default for `--lake`.
pub const LAKE: &str = "AGENTTRAIL_LAKE";
/// Default for `--source`.
pub const SOURCE: &str = "AGENTTRAIL_SOURCE";
/// Force (`true`) or disable (`false`) path-style S3 addressing.
pub const S3_PATH_STYLE: &str = "AGENTTRAIL_S3_PATH_STYLE";
/// Path of the configuration file (default `./agenttrail.toml` when present).
pub const CONFIG: &str = "AGENTTRAIL_CONFIG";
/// Where S3 lakes are mirrored (default `$XDG_CACHE_HOME/agenttrail`, else `~/.cache/agenttrail`).
pub const CACHE_DIR: &str = "AGENTTRAIL_CACHE_DIR";

/// The cache folder for S3 lake mirrors.
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
