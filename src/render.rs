//! Print query results: table, CSV, JSON or NDJSON, safely.
//!
//! CloudTrail fields are attacker-influenced (user agents, request parameters, resource names).
//! Table output replaces control characters (ESC, CSI, OSC, BEL, backspace, carriage return, …)
//! with visible escapes so a record cannot rewrite the analyst's terminal. JSON escapes control
//! characters itself. CSV quoting does not (an ESC inside quotes still reaches the terminal), so
//! CSV cells are escaped the same way when standard output is a terminal; piped or redirected,
//! CSV keeps the data exact.

use std::io::Write;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned table with control characters escaped.
    Table,
    /// RFC 4180 CSV with a header.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// Replace control characters with visible escapes (`\x1b`, `\r`, `\u{85}`, …).
pub fn escape_control(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && is_unsafe(c) => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if is_unsafe(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Write `batches` to `out` in `format`.
pub fn write_batches(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    format: Format,
) -> anyhow::Result<()> {
    match format {
        Format::Table => {
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            write_table(out, schema, batches, rows)?;
        }
        Format::Csv => write_csv(out, schema, batches, true, stdout_is_terminal())?,
        Format::Json => {
            let mut w = arrow::json::ArrayWriter::new(&mut *out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            w.write_batches(&refs)?;
            w.finish()?;
            if batches.iter().all(|b| b.num_rows() == 0) {
                // ArrayWriter writes nothing for no rows; an empty array is still valid JSON.
                drop(w);
                write!(out, "[]")?;
            }
            writeln!(out)?;
        }
        Format::Ndjson => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut *out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            w.write_batches(&refs)?;
            w.finish()?;
        }
    }
    Ok(())
}

/// Rows a table shows by default (`--max-rows`): a table is for reading, and it is built whole
/// in memory (at 5M events a detection's 700k findings as a table took 2.9 GiB and 30 s).
pub const DEFAULT_MAX_ROWS: usize = 1000;

/// A table of `shown` (escaped), then the count line: `total` rows, and how many are shown
/// when that is fewer.
pub fn write_table(
    out: &mut dyn Write,
    schema: &SchemaRef,
    shown: &[RecordBatch],
    total: usize,
) -> anyhow::Result<()> {
    let safe = shown
        .iter()
        .map(|b| sanitize(b, "NULL"))
        .collect::<Result<Vec<_>, _>>()?;
    if safe.is_empty() {
        let names: Vec<_> = schema
            .fields()
            .iter()
            .map(|f| escape_control(f.name()).into_owned())
            .collect();
        writeln!(out, "{}", names.join(" | "))?;
    } else {
        writeln!(
            out,
            "{}",
            arrow::util::pretty::pretty_format_batches(&safe)?
        )?;
    }
    let plural = if total == 1 { "" } else { "s" };
    let shown: usize = shown.iter().map(|b| b.num_rows()).sum();
    if shown < total {
        writeln!(
            out,
            "{total} row{plural} ({shown} shown: --max-rows 0, or --format csv, for all)"
        )?;
    } else {
        writeln!(out, "{total} row{plural}")?;
    }
    Ok(())
}

/// The first `max` rows of `stream` (all for 0), and how many rows it has: the rest are counted,
/// not kept.
pub async fn head(
    mut stream: datafusion::execution::SendableRecordBatchStream,
    max: usize,
) -> anyhow::Result<(Vec<RecordBatch>, usize)> {
    use futures::StreamExt;
    let (mut kept, mut total) = (Vec::new(), 0);
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let room = if max == 0 {
            batch.num_rows()
        } else {
            max.saturating_sub(total).min(batch.num_rows())
        };
        if room > 0 {
            kept.push(batch.slice(0, room));
        }
        total += batch.num_rows();
    }
    Ok((kept, total))
}

/// A statement's result in `format`, as `query` and the shell print it: CSV and NDJSON as the
/// rows come, a table of the first `max_rows` (0: all) with the count of all, a JSON array of
/// every row.
pub async fn write_result(
    out: &mut dyn Write,
    schema: &SchemaRef,
    stream: datafusion::execution::SendableRecordBatchStream,
    format: Format,
    max_rows: usize,
) -> anyhow::Result<()> {
    match format {
        Format::Csv | Format::Ndjson => {
            write_stream(out, schema, stream, format).await?;
        }
        Format::Table => {
            let (shown, total) = head(stream, max_rows).await?;
            write_table(out, schema, &shown, total)?;
        }
        Format::Json => {
            let batches: Vec<_> = futures::TryStreamExt::try_collect(stream).await?;
            write_batches(out, schema, &batches, format)?;
        }
    }
    Ok(())
}

/// Write `stream` in CSV (one header, also for no rows) or NDJSON as its batches come; the rows
/// written. The output is [`write_batches`]'s for the same rows.
pub async fn write_stream(
    out: &mut dyn Write,
    schema: &SchemaRef,
    mut stream: datafusion::execution::SendableRecordBatchStream,
    format: Format,
) -> anyhow::Result<usize> {
    use futures::StreamExt;
    let mut rows = 0;
    let mut started = false;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        rows += batch.num_rows();
        write_more(out, schema, &batch, format, started)?;
        started = true;
    }
    if !started {
        write_batches(out, schema, &[], format)?;
    }
    Ok(rows)
}

/// One batch of rows in CSV or NDJSON; `more`: rows were written before it (no CSV header).
pub fn write_more(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batch: &RecordBatch,
    format: Format,
    more: bool,
) -> anyhow::Result<()> {
    let batches = std::slice::from_ref(batch);
    match format {
        Format::Csv if more => write_csv_rows(out, schema, batches),
        _ => write_batches(out, schema, batches, format),
    }
}

/// More CSV rows after a [`write_batches`] in CSV: the same columns, no header.
pub fn write_csv_rows(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> anyhow::Result<()> {
    write_csv(out, schema, batches, false, stdout_is_terminal())
}

/// Whether what is printed reaches a terminal (every caller writes to standard output): CSV is
/// escaped then.
fn stdout_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}

/// CSV, with a header line when `header`; `escape`: control characters in cells and names made
/// visible (a terminal reads them), which changes the data, so only for a terminal.
fn write_csv(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    header: bool,
    escape: bool,
) -> anyhow::Result<()> {
    let escaped;
    let (schema, batches) = if escape {
        escaped = batches
            .iter()
            .map(|b| sanitize(b, ""))
            .collect::<Result<Vec<_>, _>>()?;
        let names: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| Field::new(escape_control(f.name()).into_owned(), DataType::Utf8, true))
            .collect();
        (Arc::new(Schema::new(names)), escaped.as_slice())
    } else {
        (schema.clone(), batches)
    };
    let mut w = arrow::csv::WriterBuilder::new()
        .with_header(header)
        .build(&mut *out);
    if batches.is_empty() && header {
        let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        drop(w);
        writeln!(out, "{}", names.join(","))?;
    } else {
        for b in batches {
            w.write(b)?;
        }
    }
    Ok(())
}

/// Render every column to escaped text, a null as the text `null`, so the printer sees only safe
/// strings.
fn sanitize(batch: &RecordBatch, null: &str) -> Result<RecordBatch, arrow::error::ArrowError> {
    let options = FormatOptions::default().with_null(null);
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
        let fmt = ArrayFormatter::try_new(array.as_ref(), &options)?;
        let values: StringArray = (0..array.len())
            .map(|i| Some(escape_control(&fmt.value(i).to_string()).into_owned()))
            .collect();
        fields.push(Field::new(
            escape_control(field.name()).into_owned(),
            DataType::Utf8,
            true,
        ));
        cols.push(Arc::new(values));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_sequences_are_neutralised() {
        let cases = [
            ("plain", "plain"),
            ("\u{1b}[2J\u{1b}[31mred", "\\x1b[2J\\x1b[31mred"),
            ("a\rb\u{8}c\u{7}", "a\\rb\\x08c\\x07"),
            ("\u{1b}]0;title\u{7}", "\\x1b]0;title\\x07"),
            ("x\u{9b}31m", "x\\u{9b}31m"),
            ("rtl\u{202e}gnp.exe", "rtl\\u{202e}gnp.exe"),
            ("日本語 ok", "日本語 ok"),
        ];
        for (input, want) in cases {
            assert_eq!(escape_control(input), want, "{input:?}");
        }
    }

    #[test]
    fn wide_and_odd_unicode_keeps_columns_aligned() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("actor", DataType::Utf8, true),
            Field::new("n", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![
                    "日本語のユーザー",
                    "e\u{301}te\u{301}",
                    "a\tb\u{7}",
                    "plain",
                ])),
                Arc::new(StringArray::from(vec!["1", "2", "3", "4"])),
            ],
        )
        .unwrap();
        let mut out = Vec::new();
        write_batches(&mut out, &schema, &[batch], Format::Table).unwrap();
        let text = String::from_utf8(out).unwrap();
        let widths: Vec<usize> = text
            .lines()
            .filter(|l| l.starts_with('|') || l.starts_with('+'))
            .map(unicode_width::UnicodeWidthStr::width)
            .collect();
        assert!(
            widths.windows(2).all(|w| w[0] == w[1]),
            "misaligned:\n{text}"
        );
    }

    #[test]
    fn table_output_contains_no_escape_byte() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "user_agent",
            DataType::Utf8,
            true,
        )]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec![
                Some("aws-cli\u{1b}[2J"),
                None,
            ]))],
        )
        .unwrap();
        let mut out = Vec::new();
        write_batches(&mut out, &schema, &[batch], Format::Table).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("aws-cli\\x1b[2J"), "{text}");
        assert!(text.contains("NULL"), "{text}");
    }

    #[test]
    fn csv_escapes_control_characters_for_a_terminal_and_keeps_them_when_piped() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("user_agent", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![
                    Some("aws-cli\u{1b}]0;owned\u{7}"),
                    None,
                ])),
                Arc::new(arrow::array::Int64Array::from(vec![Some(1), None])),
            ],
        )
        .unwrap();
        let csv = |escape: bool| {
            let mut out = Vec::new();
            write_csv(
                &mut out,
                &schema,
                std::slice::from_ref(&batch),
                true,
                escape,
            )
            .unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(csv(true), "user_agent,n\naws-cli\\x1b]0;owned\\x07,1\n,\n");
        assert_eq!(
            csv(false),
            "user_agent,n\naws-cli\u{1b}]0;owned\u{7},1\n,\n"
        );
    }

    #[tokio::test]
    async fn a_stream_is_written_as_its_batches_would_be_together() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("note", DataType::Utf8, true),
        ]));
        let batch = |rows: &[(&str, Option<&str>)]| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(rows.iter().map(|r| Some(r.0)).collect::<StringArray>()) as ArrayRef,
                    Arc::new(rows.iter().map(|r| r.1).collect::<StringArray>()) as ArrayRef,
                ],
            )
            .unwrap()
        };
        let batches = vec![
            batch(&[]),
            batch(&[("a", Some("x,y")), ("b", None)]),
            batch(&[]),
            batch(&[("c", Some("quote \" here"))]),
        ];
        let stream = |batches: Vec<RecordBatch>| {
            Box::pin(
                datafusion::physical_plan::memory::MemoryStream::try_new(
                    batches,
                    schema.clone(),
                    None,
                )
                .unwrap(),
            ) as datafusion::execution::SendableRecordBatchStream
        };
        for format in [Format::Csv, Format::Ndjson] {
            for batches in [batches.clone(), vec![batch(&[])], vec![]] {
                let mut together = Vec::new();
                write_batches(&mut together, &schema, &batches, format).unwrap();
                let mut streamed = Vec::new();
                let rows = write_stream(&mut streamed, &schema, stream(batches.clone()), format)
                    .await
                    .unwrap();
                assert_eq!(
                    String::from_utf8(streamed).unwrap(),
                    String::from_utf8(together).unwrap(),
                    "{format:?}, {} batches",
                    batches.len()
                );
                let expected: usize = batches.iter().map(RecordBatch::num_rows).sum();
                assert_eq!(rows, expected);
            }
        }
    }
}
