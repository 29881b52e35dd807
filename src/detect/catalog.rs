//! Load `queries/*.sql`: one detection per file, a `--` comment header, then one SELECT.
//!
//! Header lines are `-- key: value` (id, severity, summary, metric) until the first blank `--`
//! line; the rest of the comment is the documentation `agenttrail queries explain` prints. The id
//! must equal the file stem, so a finding always leads back to its file.

use std::path::{Path, PathBuf};

use super::DetectError;

/// Severities, in increasing order.
pub const SEVERITIES: &[&str] = &["low", "medium", "high", "critical"];

/// One detection.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Id (= file stem).
    pub id: String,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: String,
    /// One line.
    pub summary: String,
    /// CloudWatch metric name the findings count goes to.
    pub metric: String,
    /// MITRE ATT&CK technique ids (`-- mitre: T1485, T1578.003`).
    pub mitre: Vec<String>,
    /// How far before a window the detection must see events (`-- lookback: 15d`; default 1h):
    /// `detect --window` and `run` read that much more of the lake, and no more.
    pub lookback: chrono::Duration,
    /// `-- sessions: all`: the detection reads `ai_roles`, the roles of every AI session of the
    /// lake, not only of the sessions that can be live in its window (`window`, the default):
    /// to know which roles agents have ever used. Its context then also reads the credential
    /// facts' classification columns and classifies them all, at each windowed run.
    pub all_sessions: bool,
    /// The documentation part of the header.
    pub doc: String,
    /// The SQL (comments included).
    pub sql: String,
    /// The file.
    pub path: PathBuf,
}

/// Parse one detection file's text.
pub fn parse(path: &Path, text: &str) -> Result<Detection, DetectError> {
    let err = |message: String| DetectError::Catalog {
        path: path.display().to_string(),
        message,
    };
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    let (mut id, mut severity, mut summary, mut metric) = (None, None, None, None);
    let mut mitre = Vec::new();
    let mut lookback = chrono::Duration::hours(1);
    let mut all_sessions = false;
    let mut doc = Vec::new();
    let mut in_header = true;
    for line in text.lines() {
        let Some(comment) = line.strip_prefix("--") else {
            break;
        };
        let comment = comment.strip_prefix(' ').unwrap_or(comment);
        if in_header {
            if comment.trim().is_empty() {
                in_header = false;
                continue;
            }
            let (k, v) = comment
                .split_once(':')
                .ok_or_else(|| err(format!("header line {line:?} is not `-- key: value`")))?;
            let v = v.trim().to_string();
            match k.trim() {
                "id" => id = Some(v),
                "severity" => severity = Some(v),
                "summary" => summary = Some(v),
                "metric" => metric = Some(v),
                "lookback" => {
                    lookback = parse_duration(&v).ok_or_else(|| {
                        err(format!(
                            "lookback {v:?} is not a duration like 30m, 1h or 15d"
                        ))
                    })?;
                }
                "sessions" => {
                    all_sessions = match v.as_str() {
                        "all" => true,
                        "window" => false,
                        _ => {
                            return Err(err(format!("sessions {v:?} is not `all` or `window`")));
                        }
                    };
                }
                "mitre" => {
                    for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                        if !is_technique(t) {
                            return Err(err(format!(
                                "{t:?} is not a MITRE ATT&CK technique id (T1234 or T1234.001)"
                            )));
                        }
                        mitre.push(t.to_string());
                    }
                }
                other => return Err(err(format!("unknown header key {other:?}"))),
            }
        } else {
            doc.push(comment.to_string());
        }
    }
    let id = id.ok_or_else(|| err("missing `-- id:`".into()))?;
    if id != stem {
        return Err(err(format!(
            "id {id:?} differs from the file name {stem:?}"
        )));
    }
    let severity = severity.ok_or_else(|| err("missing `-- severity:`".into()))?;
    if !SEVERITIES.contains(&severity.as_str()) {
        return Err(err(format!(
            "severity {severity:?} is not one of {SEVERITIES:?}"
        )));
    }
    Ok(Detection {
        id,
        severity,
        summary: summary.ok_or_else(|| err("missing `-- summary:`".into()))?,
        metric: metric.ok_or_else(|| err("missing `-- metric:`".into()))?,
        mitre,
        lookback,
        all_sessions,
        doc: doc.join("\n"),
        sql: text.to_string(),
        path: path.to_path_buf(),
    })
}

/// `30m`, `1h`, `15d`.
fn parse_duration(v: &str) -> Option<chrono::Duration> {
    let (n, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: i64 = n.parse().ok()?;
    match unit {
        "m" => Some(chrono::Duration::minutes(n)),
        "h" => Some(chrono::Duration::hours(n)),
        "d" => Some(chrono::Duration::days(n)),
        _ => None,
    }
}

/// `T1234` or `T1234.001`.
fn is_technique(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    match b.len() {
        5 => b[0] == b'T' && digits(&b[1..]),
        9 => b[0] == b'T' && digits(&b[1..5]) && b[5] == b'.' && digits(&b[6..]),
        _ => false,
    }
}

impl Detection {
    /// The detection explained for a person: header, techniques with their links, and the doc.
    pub fn explain(&self) -> String {
        let mut out = format!(
            "{} ({}): {}\nmetric: {} (dimension Detection={})\n",
            self.id, self.severity, self.summary, self.metric, self.id
        );
        if !self.mitre.is_empty() {
            out.push_str("MITRE ATT&CK:\n");
            for t in &self.mitre {
                out.push_str(&format!(
                    "  {t}  https://attack.mitre.org/techniques/{}/\n",
                    t.replace('.', "/")
                ));
            }
        }
        out.push('\n');
        out.push_str(&self.doc);
        out.push('\n');
        out
    }
}

/// Load every `*.sql` in `dir`, sorted by id.
pub fn load(dir: &Path) -> Result<Vec<Detection>, DetectError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DetectError::Catalog {
        path: dir.display().to_string(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "sql") {
            let text = std::fs::read_to_string(&path).map_err(|e| DetectError::Catalog {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            out.push(parse(&path, &text)?);
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_parsed_and_checked() {
        let ok = "-- id: x\n-- severity: high\n-- summary: S\n-- metric: Findings\n--\n-- ## Doc\n-- text\nSELECT 1";
        let d = parse(Path::new("q/x.sql"), ok).unwrap();
        assert_eq!(
            (d.id.as_str(), d.severity.as_str(), d.metric.as_str()),
            ("x", "high", "Findings")
        );
        assert_eq!(d.doc, "## Doc\ntext");
        let cases = [
            (ok.replace("id: x", "id: y"), "differs from the file name"),
            (
                ok.replace("severity: high", "severity: urgent"),
                "is not one of",
            ),
            (
                ok.replace("-- metric: Findings\n", ""),
                "missing `-- metric:`",
            ),
            (
                ok.replace("-- summary: S", "-- owner: me"),
                "unknown header key",
            ),
            (
                ok.replace(
                    "-- metric: Findings",
                    "-- metric: Findings\n-- mitre: T1485, TA0040",
                ),
                "not a MITRE ATT&CK technique id",
            ),
            (
                ok.replace(
                    "-- metric: Findings",
                    "-- metric: Findings\n-- sessions: some",
                ),
                "is not `all` or `window`",
            ),
        ];
        let with = ok.replace(
            "-- metric: Findings",
            "-- metric: Findings\n-- mitre: T1485, T1578.003",
        );
        let d = parse(Path::new("q/x.sql"), &with).unwrap();
        assert_eq!(d.mitre, vec!["T1485", "T1578.003"]);
        assert_eq!(d.lookback, chrono::Duration::hours(1), "the default");
        assert!(
            !d.all_sessions,
            "the default: sessions that can be live in the window"
        );
        let all = ok.replace(
            "-- metric: Findings",
            "-- metric: Findings\n-- sessions: all",
        );
        assert!(parse(Path::new("q/x.sql"), &all).unwrap().all_sessions);
        let long = ok.replace(
            "-- metric: Findings",
            "-- metric: Findings\n-- lookback: 15d",
        );
        assert_eq!(
            parse(Path::new("q/x.sql"), &long).unwrap().lookback,
            chrono::Duration::days(15)
        );
        let bad = ok.replace(
            "-- metric: Findings",
            "-- metric: Findings\n-- lookback: soon",
        );
        assert!(
            parse(Path::new("q/x.sql"), &bad)
                .unwrap_err()
                .to_string()
                .contains("not a duration")
        );
        for (text, want) in cases {
            let e = parse(Path::new("q/x.sql"), &text).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("q/x.sql"), "{e}");
        }
    }
}
