//! A physical optimizer rule: a hash join builds its table on the in-memory side, never on a
//! scan of the lake's files.
//!
//! Why: detections join events with the derived tables (`sessions`, `mcp_links`, …), which are
//! in memory (the `events` view itself looks them up by key, see `lookup`). DataFusion picks the build side from statistics, and after a filter
//! pushed into the scan and a join or two the events side's row count is an estimate that can
//! come out below the derived table's exact one. The join then collected every event, with every
//! column the query carries, into one hash table: 4.6 GiB for one detection over a 5M-event lake,
//! where a build on `mcp_links` streams the events through. A table already in memory costs at
//! most its own size again as a hash table; a scan's size is what the lake holds. The rule runs
//! right after DataFusion's join selection and only swaps the two sides of a join whose build
//! side reads files and whose probe side reads none; every other join is left as chosen.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::joins::HashJoinExec;

/// See the module docs.
#[derive(Debug, Default)]
pub struct BuildOnMemory;

impl BuildOnMemory {
    /// The default rules with this one right after `join_selection`.
    pub fn with_default_rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
        let mut rules = datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules;
        let at = rules
            .iter()
            .position(|r| r.name() == "join_selection")
            .map_or(0, |i| i + 1);
        rules.insert(at, Arc::new(BuildOnMemory));
        rules
    }
}

/// Whether `plan` reads files (a Parquet scan of a lake table) anywhere below it.
fn reads_files(plan: &Arc<dyn ExecutionPlan>) -> bool {
    if plan.name() == "DeltaScanExec" {
        return true;
    }
    if let Some(source) = plan.downcast_ref::<DataSourceExec>()
        && source
            .data_source()
            .downcast_ref::<FileScanConfig>()
            .is_some()
    {
        return true;
    }
    plan.children().into_iter().any(reads_files)
}

impl PhysicalOptimizerRule for BuildOnMemory {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(join) = node.downcast_ref::<HashJoinExec>() else {
                return Ok(Transformed::no(node));
            };
            if join.join_type().supports_swap()
                && !join.null_aware
                && reads_files(join.left())
                && !reads_files(join.right())
            {
                let swapped = join.swap_inputs(*join.partition_mode())?;
                return Ok(Transformed::yes(swapped));
            }
            Ok(Transformed::no(node))
        })
        .data()
    }

    fn name(&self) -> &str {
        "build_on_memory"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, RecordBatch};
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};

    use super::*;

    fn ids(range: std::ops::Range<i64>) -> RecordBatch {
        RecordBatch::try_from_iter(vec![(
            "id",
            Arc::new(Int64Array::from_iter_values(range)) as arrow::array::ArrayRef,
        )])
        .unwrap()
    }

    /// The first hash join of `plan`, depth first.
    fn first_join(plan: &Arc<dyn ExecutionPlan>) -> Option<&HashJoinExec> {
        plan.downcast_ref::<HashJoinExec>()
            .or_else(|| plan.children().into_iter().find_map(first_join))
    }

    /// A Parquet file of 10 rows left-joined with an in-memory table of 100,000: DataFusion's
    /// statistics pick the file as the build side; with the rule the table in memory is.
    #[tokio::test]
    async fn a_join_of_a_file_scan_and_a_memory_table_builds_on_the_memory_table() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lake.parquet");
        let small = ids(0..10);
        let mut w = parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&file).unwrap(),
            small.schema(),
            None,
        )
        .unwrap();
        w.write(&small).unwrap();
        w.close().unwrap();
        let big = ids(0..100_000);
        let sql = "SELECT count(*) AS n, count(m.id) AS matched FROM lake l LEFT JOIN mem m ON l.id = m.id";
        let mut seen = Vec::new();
        for with_rule in [false, true] {
            let mut state = SessionStateBuilder::new()
                .with_config(SessionConfig::new().with_target_partitions(2))
                .with_default_features();
            if with_rule {
                state = state.with_physical_optimizer_rules(BuildOnMemory::with_default_rules());
            }
            let ctx = SessionContext::new_with_state(state.build());
            ctx.register_parquet(
                "lake",
                file.to_str().unwrap(),
                ParquetReadOptions::default(),
            )
            .await
            .unwrap();
            let mem = MemTable::try_new(big.schema(), vec![vec![big.clone()]]).unwrap();
            ctx.register_table("mem", Arc::new(mem)).unwrap();
            let df = ctx.sql(sql).await.unwrap();
            let plan = df.clone().create_physical_plan().await.unwrap();
            let join = first_join(&plan).expect("a hash join");
            seen.push((reads_files(join.left()), reads_files(join.right())));
            let rows = arrow::util::pretty::pretty_format_batches(&df.collect().await.unwrap())
                .unwrap()
                .to_string();
            assert!(rows.contains("| 10 | 10      |"), "{rows}");
        }
        assert_eq!(seen, vec![(true, false), (false, true)]);
    }
}
