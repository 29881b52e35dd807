//! Scalar functions that expose the configured AI rules to SQL.
//!
//! `ai_managed_mcp(s)`, `ai_agent_role(arn)`, `ai_source_identity(s)` → boolean;
//! `ai_user_agent_server(ua)` → the MCP server named by a user-agent marker, or null;
//! `mcp_approved(server)`, `mcp_server_caller(arn)` → boolean. They close over the compiled [`Rules`], so SQL in
//! `queries/` never repeats the organisation's patterns.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;

use crate::correlate::rules::Rules;

fn strings(arg: &ColumnarValue, rows: usize) -> Result<StringArray> {
    let array: ArrayRef = arg.clone().into_array(rows)?;
    let array = if array.data_type() == &DataType::Utf8 {
        array
    } else {
        cast(&array, &DataType::Utf8)?
    };
    Ok(array.as_string::<i32>().clone())
}

/// The number of rows of a call: that of its array arguments (1 when all are scalars).
pub(super) fn rows_of(args: &[ColumnarValue]) -> usize {
    args.iter()
        .find_map(|a| match a {
            ColumnarValue::Array(a) => Some(a.len()),
            ColumnarValue::Scalar(_) => None,
        })
        .unwrap_or(1)
}

fn register_predicate(
    ctx: &SessionContext,
    name: &str,
    rules: &Arc<Rules>,
    f: fn(&Rules, &str) -> bool,
) {
    let rules = rules.clone();
    let udf = create_udf(
        name,
        vec![DataType::Utf8],
        DataType::Boolean,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let rows = rows_of(args);
            let input = strings(&args[0], rows)?;
            let out: BooleanArray = input
                .iter()
                .map(|v| Some(v.is_some_and(|s| f(&rules, s))))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    );
    ctx.register_udf(udf);
}

/// Register every rule function on `ctx`.
pub fn register_all(ctx: &SessionContext, rules: Arc<Rules>) {
    register_predicate(ctx, "ai_managed_mcp", &rules, |r, s| r.is_managed_mcp(s));
    register_predicate(ctx, "ai_agent_role", &rules, |r, s| r.is_agent_role(s));
    register_predicate(ctx, "ai_source_identity", &rules, |r, s| {
        r.is_ai_source_identity(s)
    });
    register_predicate(ctx, "mcp_approved", &rules, |r, s| r.is_approved_mcp(s));
    register_predicate(ctx, "mcp_server_caller", &rules, |r, s| {
        r.is_mcp_server_caller(s)
    });
    let r = rules.clone();
    let udf = create_udf(
        "ai_user_agent_server",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let rows = rows_of(args);
            let input = strings(&args[0], rows)?;
            let out: StringArray = input
                .iter()
                .map(|v| v.and_then(|s| r.user_agent_server(s)))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    );
    ctx.register_udf(udf);
}
