//! A physical optimizer rule: a hash join builds its table on the in-memory side, never on a
//! scan of the lake's files.
//!
//! Why: the `events` view joins every event with the derived tables (`sessions`, `mcp_links`, …),
//! which are in memory. DataFusion picks the build side from statistics, and after a filter
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
