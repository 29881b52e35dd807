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
