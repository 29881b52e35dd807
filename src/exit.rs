//! Exit codes: 0 success, 1 findings (only when asked for), 2 error or partial failure.

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything worked.
    Success = 0,
    /// Findings were present and the caller asked to fail on them.
    Findings = 1,
    /// An error, or a partial failure (some objects failed).
    Error = 2,
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(s: ExitStatus) -> Self {
        std::process::ExitCode::from(s as u8)
    }
}
