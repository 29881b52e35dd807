//! A self-contained HTML report: inline CSS and SVG, no script, no network access to view it.
//!
//! Pure: it turns already-queried figures into a page. Every value from CloudTrail is
//! HTML-escaped (it is attacker-influenced), and control characters are shown as escapes.

use std::fmt::Write;

/// Calls in one hour.
#[derive(Debug, Clone, PartialEq)]
pub struct HourBucket {
    /// Hour start (UTC, display text).
    pub hour: String,
    /// AI-driven calls.
    pub ai: u64,
    /// Other calls.
    pub human: u64,
}

/// What the report shows.
#[derive(Debug, Clone, Default)]
pub struct ReportData {
    /// Title line (lake and range).
    pub title: String,
    /// AI vs human calls per hour.
    pub hours: Vec<HourBucket>,
    /// (MCP server, tool, AI calls).
    pub servers: Vec<(String, String, u64)>,
    /// (detection, severity, findings, latest time, latest actor, latest evidence, MITRE ATT&CK
    /// techniques).
    pub findings: Vec<(String, String, u64, String, String, String, String)>,
    /// (session, actor, MCP server, destructive calls, writes, calls).
    pub sessions: Vec<(String, String, String, u64, u64, u64)>,
}

/// Escape for HTML text and attributes, showing control characters as escapes.
pub fn html(s: &str) -> String {
    let safe = crate::render::escape_control(s);
    let mut out = String::with_capacity(safe.len());
    for c in safe.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn timeline_svg(hours: &[HourBucket]) -> String {
    let (w, h, top, bottom) = (900.0_f64, 220.0_f64, 10.0_f64, 40.0_f64);
    let max = hours
        .iter()
        .map(|b| b.ai + b.human)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let n = hours.len().max(1) as f64;
    let bw = (w - 40.0) / n;
    let mut svg = format!(
        r#"<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" aria-label="AI-driven and human calls per hour">"#
    );
    let plot = h - top - bottom;
    for (i, b) in hours.iter().enumerate() {
        let x = 40.0 + i as f64 * bw;
        let hh = plot * b.human as f64 / max;
        let ha = plot * b.ai as f64 / max;
        let _ = write!(
            svg,
            r#"<rect class="human" x="{x:.1}" y="{:.1}" width="{:.1}" height="{hh:.1}" data-hour="{}" data-count="{}"><title>{} human: {}</title></rect>"#,
            top + plot - hh,
            (bw - 2.0).max(1.0),
            html(&b.hour),
            b.human,
            html(&b.hour),
            b.human
        );
        let _ = write!(
            svg,
            r#"<rect class="ai" x="{x:.1}" y="{:.1}" width="{:.1}" height="{ha:.1}" data-hour="{}" data-count="{}"><title>{} AI: {}</title></rect>"#,
            top + plot - hh - ha,
            (bw - 2.0).max(1.0),
            html(&b.hour),
            b.ai,
            html(&b.hour),
            b.ai
        );
        let label = b.hour.get(11..13).unwrap_or("");
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" class="axis">{}</text>"#,
            x + bw / 2.0,
            h - bottom + 15.0,
            html(label)
        );
    }
    let _ = write!(
        svg,
        r#"<text x="2" y="{:.1}" class="yaxis">{max}</text><text x="2" y="{:.1}" class="yaxis">0</text>"#,
        top + 10.0,
        top + plot
    );
    svg.push_str("</svg>");
    svg
}

/// Render the page.
pub fn render(d: &ReportData) -> String {
    let mut p = String::new();
    let total_ai: u64 = d.hours.iter().map(|b| b.ai).sum();
    let total_human: u64 = d.hours.iter().map(|b| b.human).sum();
    let _ = write!(
        p,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>agenttrail report</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}} h1{{font-size:20px}} h2{{font-size:16px;margin-top:28px}}
table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}}
td{{max-width:420px;overflow-wrap:anywhere}} td.n{{text-align:right}} .yaxis{{font-size:10px;fill:#555}} .ai{{fill:#d33}} .human{{fill:#9aa}} .axis{{font-size:10px;fill:#555;text-anchor:middle}}
.legend span{{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}} .sev-critical,.sev-high{{color:#b00;font-weight:bold}}
</style></head><body>
<h1>agenttrail: what AI agents did</h1><p id="title">{}</p>
<p id="totals">AI-driven calls: <b id="total-ai">{total_ai}</b> · other calls: <b id="total-human">{total_human}</b></p>
<h2>AI-driven vs human calls per hour (UTC)</h2>
<div class="legend"><span style="background:#d33"></span>AI-driven<span style="background:#9aa"></span>human and services</div>
{}"#,
        html(&d.title),
        timeline_svg(&d.hours)
    );
    p.push_str(r#"<h2>AI calls per MCP server and tool</h2><table id="servers"><tr><th>MCP server</th><th>tool</th><th>AI calls</th></tr>"#);
    for (s, t, n) in &d.servers {
        let _ = write!(
            p,
            r#"<tr><td>{}</td><td>{}</td><td class="n">{n}</td></tr>"#,
            html(s),
            html(t)
        );
    }
    p.push_str("</table>");
    p.push_str(r#"<h2>Findings per detection (latest)</h2><table id="findings"><tr><th>detection</th><th>severity</th><th>findings</th><th>latest</th><th>actor</th><th>evidence</th><th>ATT&amp;CK</th></tr>"#);
    for (id, sev, n, t, actor, ev, mitre) in &d.findings {
        let _ = write!(
            p,
            r#"<tr data-detection="{}"><td>{}</td><td class="sev-{}">{}</td><td class="n">{n}</td><td>{}</td><td>{}</td><td>{}</td><td class="mitre">{}</td></tr>"#,
            html(id),
            html(id),
            html(sev),
            html(sev),
            html(t),
            html(actor),
            html(ev),
            html(mitre)
        );
    }
    p.push_str("</table>");
    p.push_str(r#"<h2>Top AI sessions by destructive calls</h2><table id="sessions"><tr><th>session</th><th>actor</th><th>MCP server</th><th>destructive</th><th>writes</th><th>calls</th></tr>"#);
    for (k, a, s, dn, w, c) in &d.sessions {
        let _ = write!(
            p,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td class="n">{dn}</td><td class="n">{w}</td><td class="n">{c}</td></tr>"#,
            html(k),
            html(a),
            html(s)
        );
    }
    p.push_str("</table><p>Generated by agenttrail. Values come from CloudTrail and are shown escaped.</p></body></html>\n");
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_values_are_escaped() {
        assert_eq!(
            html("<script>alert('x')</script>&"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"
        );
        assert_eq!(html("a\u{1b}[2Jb"), "a\\x1b[2Jb");
        let d = ReportData {
            servers: vec![("<img src=x onerror=alert(1)>".into(), "t".into(), 1)],
            ..Default::default()
        };
        let page = render(&d);
        assert!(!page.contains("<img src=x"), "{page}");
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
    }
}
