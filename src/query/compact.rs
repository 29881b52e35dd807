//! The in-memory correlation tables keep their repetitive text columns dictionary-encoded, and
//! show them as text.
//!
//! A query context holds `sessions` (one row per STS credential issue), `mcp_links` and
//! `ai_session_names` for its whole life. Their widest columns repeat a few values over hundreds
//! of thousands of rows: role and caller ARNs, tags, accounts, Regions, mechanisms, MCP servers
//! and tools. Stored as plain text, `sessions` alone took 333 MiB of a 5M-event context's heap;
//! as a dictionary each such value is stored once per batch and each row costs a 4-byte key.
//!
//! The encoding is an implementation detail: each table is registered as a view that casts its
//! dictionary columns back to `Utf8`, so SQL sees the same schema as before, and the lookups of
//! `events` read either form through [`Text`].

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, DictionaryArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use datafusion::catalog::view::ViewTable;
use datafusion::datasource::{MemTable, provider_as_source};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast};
use datafusion::prelude::{SessionContext, ident};

/// The dictionary type of an encoded column.
fn dictionary() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// `plain` with its text columns named in `columns` dictionary-encoded.
pub fn schema(plain: &Schema, columns: &[&str]) -> SchemaRef {
    Arc::new(Schema::new(
        plain
            .fields()
            .iter()
            .map(|f| {
                if f.data_type() == &DataType::Utf8 && columns.contains(&f.name().as_str()) {
                    Field::new(f.name(), dictionary(), f.is_nullable())
                } else {
                    f.as_ref().clone()
                }
            })
            .collect::<Vec<_>>(),
    ))
}

/// `batch` with its text columns named in `columns` dictionary-encoded (one dictionary per
/// batch; columns already encoded are kept as they are).
pub fn encode(batch: &RecordBatch, columns: &[&str]) -> arrow::error::Result<RecordBatch> {
    let schema = schema(&batch.schema(), columns);
    let arrays = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(a, f)| {
            if a.data_type() == f.data_type() {
                Ok(a.clone())
            } else {
                arrow::compute::cast(a, f.data_type())
            }
        })
        .collect::<arrow::error::Result<Vec<ArrayRef>>>()?;
    RecordBatch::try_new(schema, arrays)
}

/// Register `batches` (of one schema, dictionary-encoded or not) as table `name`: a view that
/// shows every dictionary column as `Utf8`. `schema` is the batches' schema (needed when there
/// are none).
pub fn register(
    ctx: &SessionContext,
    name: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<()> {
    let columns: Vec<Expr> = schema
        .fields()
        .iter()
        .map(|f| {
            let c = ident(f.name());
            if matches!(f.data_type(), DataType::Dictionary(_, _)) {
                cast(c, DataType::Utf8).alias(f.name())
            } else {
                c
            }
        })
        .collect();
    let table = MemTable::try_new(schema, vec![batches])?;
    // The scan keeps the table's name: `query::needs_derived` finds the tables a plan reads by it.
    let plan = LogicalPlanBuilder::scan(name, provider_as_source(Arc::new(table)), None)?
        .project(columns)?
        .build()?;
    ctx.register_table(name, Arc::new(ViewTable::new(plan, None)))?;
    Ok(())
}

/// A text column as stored: plain or dictionary-encoded.
#[derive(Clone, Copy)]
pub enum Text<'a> {
    /// `Utf8`.
    Plain(&'a StringArray),
    /// `Dictionary(Int32, Utf8)`.
    Dictionary(&'a DictionaryArray<Int32Type>, &'a StringArray),
}

impl<'a> Text<'a> {
    /// `array` as text, or `None` when it is neither form.
    pub fn of(array: &'a dyn Array) -> Option<Text<'a>> {
        if let Some(s) = array.as_string_opt::<i32>() {
            return Some(Text::Plain(s));
        }
        let d = array.as_dictionary_opt::<Int32Type>()?;
        Some(Text::Dictionary(d, d.values().as_string_opt::<i32>()?))
    }

    /// The value at `row`, `None` when null.
    pub fn get(&self, row: usize) -> Option<&'a str> {
        match *self {
            Text::Plain(s) => (!s.is_null(row)).then(|| s.value(row)),
            Text::Dictionary(d, values) => {
                if d.is_null(row) {
                    return None;
                }
                let k = d.keys().value(row) as usize;
                (!values.is_null(k)).then(|| values.value(k))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> RecordBatch {
        RecordBatch::try_from_iter([
            (
                "role",
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    None,
                    Some("a"),
                    Some("b"),
                ])) as ArrayRef,
            ),
            (
                "key",
                Arc::new(StringArray::from(vec!["k1", "k2", "k3", "k4"])) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    #[test]
    fn encoded_columns_read_the_same_values() {
        let plain = batch();
        let compact = encode(&plain, &["role"]).unwrap();
        assert!(matches!(
            compact.column(0).data_type(),
            DataType::Dictionary(_, _)
        ));
        assert_eq!(compact.column(1).data_type(), &DataType::Utf8);
        let (a, b) = (
            Text::of(plain.column(0).as_ref()).unwrap(),
            Text::of(compact.column(0).as_ref()).unwrap(),
        );
        assert!(matches!(b, Text::Dictionary(..)));
        for r in 0..plain.num_rows() {
            assert_eq!(a.get(r), b.get(r), "row {r}");
        }
        // Encoding twice keeps the dictionary.
        let again = encode(&compact, &["role"]).unwrap();
        assert!(Arc::ptr_eq(again.column(0), compact.column(0)));
    }

    #[tokio::test]
    async fn the_registered_view_shows_text() {
        let ctx = SessionContext::new();
        let compact = encode(&batch(), &["role"]).unwrap();
        register(&ctx, "t", compact.schema(), vec![compact]).unwrap();
        let df = ctx
            .sql("SELECT role, count(*) AS n FROM t GROUP BY role ORDER BY role NULLS LAST")
            .await
            .unwrap();
        let schema = df.schema().as_arrow().clone();
        assert_eq!(schema.field(0).data_type(), &DataType::Utf8);
        let out = df.collect().await.unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&out)
            .unwrap()
            .to_string();
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("| ")).collect();
        assert_eq!(
            rows,
            [
                "| role | n |",
                "| a    | 2 |",
                "| b    | 1 |",
                "|      | 1 |"
            ]
        );
    }
}
