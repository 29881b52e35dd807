//! The correlation tables looked up by key from `events.sql`, as scalar functions.
//!
//! `events` labels every event with what `sessions`, `ai_session_names`, `mcp_links`,
//! `signin_mcp_sessions` and `mcp_inferred_links` say of it. Written as five left joins, each
//! join's output took every column of every event row again (DataFusion's hash join gathers the
//! probe side's rows into new arrays) and each query rebuilt the hash tables from the in-memory
//! tables (whole columns concatenated): most of a detection's time and memory at millions of
//! events. Each of those tables has one row per key, so a join is a lookup: these functions
//! compute a row number per event and then only the columns `events` asks for, and the indexes
//! are built once per query context.
//!
//! - `lookup_row(table, key)` → the row of `table` whose key equals `key` (UInt32), or null;
//! - `lookup_name_row(role_arn, session_name, event_time)` → the row of `ai_session_names` for
//!   that role and session name whose span holds `event_time`, or null;
//! - `lookup_value(table, row, column)` → the value of text column `column` at `row`, null for
//!   a null row.
//!
//! The table and column names are literals of `events.sql`; an unknown one is an error.
//!
//! The row functions are declared volatile although they are not: DataFusion then leaves a
//! filter on `is_ai` (which depends on them) above the scan instead of pushing it into the
//! Parquet reader as a row filter, where every lookup ran once to filter and again to project
//! (the 1M-event suite took 3.7 s that way, 2.7 s this way). Keys are hashed with the standard
//! library's seeded SipHash: they come from the logs.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, StringArray, TimestampMicrosecondArray, UInt32Array,
};
use arrow::datatypes::{DataType, TimestampMicrosecondType};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;

use super::compact::Text;
use super::udf::rows_of;

/// No row.
const END: u32 = u32::MAX;

/// One table, indexed by its key columns (text, unique per row as the table is built).
pub struct Index {
    /// The table's batches.
    batches: Vec<RecordBatch>,
    /// Key columns, per key part, per batch.
    keys: Vec<Vec<StringArray>>,
    /// Batch and row of each global row number.
    loc: Vec<(u32, u32)>,
    /// Hash of the key → first global row with that hash; `next` chains the others.
    head: HashMap<u64, u32>,
    next: Vec<u32>,
    hasher: std::collections::hash_map::RandomState,
}

impl Index {
    /// Index `batches` on the text columns `key` (rows with a null key part are left out).
    pub fn new(batches: Vec<RecordBatch>, key: &[&str]) -> Result<Index> {
        let mut keys: Vec<Vec<StringArray>> = vec![Vec::with_capacity(batches.len()); key.len()];
        for b in &batches {
            for (part, name) in key.iter().enumerate() {
                let column = b
                    .column_by_name(name)
                    .and_then(|c| c.as_string_opt::<i32>())
                    .ok_or_else(|| {
                        DataFusionError::Internal(format!("lookup key {name} is not a text column"))
                    })?;
                keys[part].push(column.clone());
            }
        }
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let mut index = Index {
            batches,
            keys,
            loc: Vec::with_capacity(rows),
            head: HashMap::with_capacity(rows),
            next: Vec::with_capacity(rows),
            hasher: Default::default(),
        };
        for (b, batch) in index.batches.iter().enumerate() {
            for r in 0..batch.num_rows() {
                if index.keys.iter().any(|part| part[b].is_null(r)) {
                    continue;
                }
                let h = index.hash(index.keys.iter().map(|part| part[b].value(r)));
                let g = index.loc.len() as u32;
                index.loc.push((b as u32, r as u32));
                index.next.push(index.head.insert(h, g).unwrap_or(END));
            }
        }
        Ok(index)
    }

    fn hash<'a>(&self, parts: impl Iterator<Item = &'a str>) -> u64 {
        let mut h = self.hasher.build_hasher();
        for p in parts {
            p.hash(&mut h);
        }
        h.finish()
    }

    /// The global row whose key parts equal `parts` and that `accept` takes.
    fn find(&self, parts: &[&str], accept: impl Fn(u32, u32) -> bool) -> Option<u32> {
        let mut g = *self.head.get(&self.hash(parts.iter().copied()))?;
        while g != END {
            let (b, r) = self.loc[g as usize];
            let same = self
                .keys
                .iter()
                .zip(parts)
                .all(|(part, p)| part[b as usize].value(r as usize) == *p);
            if same && accept(b, r) {
                return Some(g);
            }
            g = self.next[g as usize];
        }
        None
    }

    /// Text column `name` (plain or dictionary-encoded, see `compact`) at the global rows
    /// `rows`, as `Utf8` (null where `rows` is).
    fn values(&self, name: &str, rows: &UInt32Array) -> Result<ArrayRef> {
        let parts: Vec<Text<'_>> = self
            .batches
            .iter()
            .map(|b| {
                let c = b.column_by_name(name).ok_or_else(|| {
                    DataFusionError::Plan(format!("lookup_value: no column {name}"))
                })?;
                Text::of(c.as_ref()).ok_or_else(|| {
                    DataFusionError::Plan(format!("lookup_value: {name} is not a text column"))
                })
            })
            .collect::<Result<_>>()?;
        let values: StringArray = rows
            .iter()
            .map(|g| {
                g.and_then(|g| {
                    let (b, r) = self.loc[g as usize];
                    parts[b as usize].get(r as usize)
                })
            })
            .collect();
        Ok(Arc::new(values))
    }
}

/// The indexes of one query context, by table name.
#[derive(Default)]
pub struct Lookups {
    tables: HashMap<String, Index>,
}

impl Lookups {
    /// Index `batches` of `table` on `key`.
    pub fn add(&mut self, table: &str, batches: Vec<RecordBatch>, key: &[&str]) -> Result<()> {
        self.tables
            .insert(table.to_string(), Index::new(batches, key)?);
        Ok(())
    }

    fn table(&self, name: &str) -> Result<&Index> {
        self.tables
            .get(name)
            .ok_or_else(|| DataFusionError::Plan(format!("lookup: no table {name}")))
    }

    /// Register the lookup functions over these tables on `ctx`.
    pub fn register(self, ctx: &SessionContext) {
        let me = Arc::new(self);
        let it = me.clone();
        ctx.register_udf(create_udf(
            "lookup_row",
            vec![DataType::Utf8, DataType::Utf8],
            DataType::UInt32,
            Volatility::Volatile,
            Arc::new(move |args: &[ColumnarValue]| {
                let index = it.table(&literal(&args[0], "lookup_row")?)?;
                let keys = text(&args[1], rows_of(args))?;
                let out: UInt32Array = keys
                    .iter()
                    .map(|k| k.and_then(|k| index.find(&[k], |_, _| true)))
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(out)))
            }),
        ));
        let it = me.clone();
        ctx.register_udf(create_udf(
            "lookup_name_row",
            vec![
                DataType::Utf8,
                DataType::Utf8,
                crate::schema::timestamp_type(),
            ],
            DataType::UInt32,
            Volatility::Volatile,
            Arc::new(move |args: &[ColumnarValue]| {
                let index = it.table("ai_session_names")?;
                let n = rows_of(args);
                let (roles, names) = (text(&args[0], n)?, text(&args[1], n)?);
                let at = args[2].clone().into_array(n)?;
                let at = at
                    .as_primitive_opt::<TimestampMicrosecondType>()
                    .ok_or_else(|| DataFusionError::Internal("lookup_name_row: time".into()))?;
                let spans: Vec<(&TimestampMicrosecondArray, &TimestampMicrosecondArray)> = index
                    .batches
                    .iter()
                    .map(|b| {
                        let t = |c: &str| {
                            b.column_by_name(c)
                                .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
                                .ok_or_else(|| {
                                    DataFusionError::Internal(format!("ai_session_names.{c}"))
                                })
                        };
                        Ok((t("first_issued_at")?, t("last_expires_at")?))
                    })
                    .collect::<Result<_>>()?;
                let out: UInt32Array = (0..n)
                    .map(|i| {
                        if roles.is_null(i) || names.is_null(i) || at.is_null(i) {
                            return None;
                        }
                        let t = at.value(i);
                        index.find(&[roles.value(i), names.value(i)], |b, r| {
                            let (first, last) = spans[b as usize];
                            let r = r as usize;
                            !first.is_null(r)
                                && !last.is_null(r)
                                && first.value(r) <= t
                                && t <= last.value(r)
                        })
                    })
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(out)))
            }),
        ));
        let it = me;
        ctx.register_udf(create_udf(
            "lookup_value",
            vec![DataType::Utf8, DataType::UInt32, DataType::Utf8],
            DataType::Utf8,
            Volatility::Immutable,
            Arc::new(move |args: &[ColumnarValue]| {
                let index = it.table(&literal(&args[0], "lookup_value")?)?;
                let column = literal(&args[2], "lookup_value")?;
                let rows = args[1].clone().into_array(rows_of(args))?;
                let rows = rows
                    .as_primitive_opt::<arrow::datatypes::UInt32Type>()
                    .ok_or_else(|| DataFusionError::Internal("lookup_value: row".into()))?;
                Ok(ColumnarValue::Array(index.values(&column, rows)?))
            }),
        ));
    }
}

/// A literal text argument (a table or column name).
fn literal(arg: &ColumnarValue, function: &str) -> Result<String> {
    match arg {
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(s))) => Ok(s.clone()),
        _ => Err(DataFusionError::Plan(format!(
            "{function}: table and column names must be text literals"
        ))),
    }
}

fn text(arg: &ColumnarValue, rows: usize) -> Result<StringArray> {
    let array = arg.clone().into_array(rows)?;
    array
        .as_string_opt::<i32>()
        .cloned()
        .ok_or_else(|| DataFusionError::Internal("lookup: key is not text".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(keys: &[Option<&str>], values: &[&str]) -> RecordBatch {
        RecordBatch::try_from_iter([
            (
                "k",
                Arc::new(keys.iter().copied().collect::<StringArray>()) as ArrayRef,
            ),
            (
                "v",
                Arc::new(values.iter().map(|v| Some(*v)).collect::<StringArray>()) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    #[tokio::test]
    async fn a_lookup_returns_what_the_left_join_returns() {
        let ctx = SessionContext::new();
        let table = vec![
            batch(&[Some("a"), None, Some("b")], &["1", "2", "3"]),
            batch(&[Some("c")], &["4"]),
        ];
        ctx.register_batch(
            "t",
            arrow::compute::concat_batches(&table[0].schema(), &table).unwrap(),
        )
        .unwrap();
        ctx.register_batch(
            "p",
            batch(
                &[Some("c"), Some("x"), None, Some("a"), Some("b")],
                &["p1", "p2", "p3", "p4", "p5"],
            ),
        )
        .unwrap();
        let mut lookups = Lookups::default();
        lookups.add("t", table, &["k"]).unwrap();
        lookups.register(&ctx);
        let rows = |sql: &str| {
            let ctx = ctx.clone();
            let sql = sql.to_string();
            async move {
                let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
                arrow::util::pretty::pretty_format_batches(&batches)
                    .unwrap()
                    .to_string()
            }
        };
        let joined =
            rows("SELECT p.v AS pv, t.v AS tv FROM p LEFT JOIN t ON p.k = t.k ORDER BY p.v").await;
        let looked_up = rows(
            "SELECT v AS pv, lookup_value('t', lookup_row('t', k), 'v') AS tv FROM p ORDER BY v",
        )
        .await;
        assert_eq!(joined, looked_up);
        assert!(looked_up.contains("| p1 | 4  |"), "{looked_up}");
        assert!(looked_up.contains("| p2 |    |"), "{looked_up}");
        let err = ctx
            .sql("SELECT lookup_value('t', lookup_row('nope', k), 'v') FROM p")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no table nope"), "{err}");
    }
}
