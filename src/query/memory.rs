//! The memory the operators of a query may hold before they spill to disk.
//!
//! A whole-lake detection can sort or group hundreds of thousands of findings (at 5M events
//! `unapproved_mcp_server` groups 700k calls and sorts as many findings); unbounded, those
//! buffers came on top of the correlation tables and set the peak RSS of `detect`. DataFusion's
//! sorts and grouped aggregations spill to temporary files when the memory pool refuses them
//! more, so a limited pool bounds them.
//!
//! DataFusion's own limited pools also refuse operators that cannot spill (a hash join's build
//! side), which would turn an ad-hoc join that used to answer into "resources exhausted". This
//! pool limits only the operators that can spill, sharing the limit fairly among them (as
//! DataFusion's `FairSpillPool` does), and never refuses one that holds nothing; the others are
//! counted and never refused, as with no limit at all.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};

/// Default MiB for the operators that can spill, together.
pub const DEFAULT_SPILL_MEMORY_MIB: usize = 256;

/// The pool of a query context: [`SpillLimitPool`] of `AGENTTRAIL_SPILL_MEMORY_MIB` MiB (default
/// [`DEFAULT_SPILL_MEMORY_MIB`]), or none (no limit) for `0`. An unreadable value is an error
/// naming the variable.
pub fn pool_from_env() -> Result<Option<std::sync::Arc<dyn MemoryPool>>> {
    let mib = crate::env_vars::whole_number(
        crate::env_vars::SPILL_MEMORY_MIB,
        DEFAULT_SPILL_MEMORY_MIB,
        "a whole number of MiB (0 for no limit)",
    )
    .map_err(datafusion::error::DataFusionError::Configuration)?;
    Ok((mib > 0).then(|| {
        std::sync::Arc::new(SpillLimitPool::new(mib << 20)) as std::sync::Arc<dyn MemoryPool>
    }))
}

/// A pool that limits the consumers that can spill and never refuses the others.
#[derive(Debug)]
pub struct SpillLimitPool {
    limit: usize,
    state: Mutex<State>,
    unspillable: AtomicUsize,
}

#[derive(Debug, Default)]
struct State {
    /// Consumers registered that can spill.
    spillers: usize,
    /// Bytes they hold.
    spilling: usize,
}

impl SpillLimitPool {
    /// A pool giving `limit` bytes to the consumers that can spill.
    pub fn new(limit: usize) -> SpillLimitPool {
        SpillLimitPool {
            limit,
            state: Mutex::new(State::default()),
            unspillable: AtomicUsize::new(0),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is two counters, consistent after any panic.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Display for SpillLimitPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "spill-limit({} MiB for operators that spill)",
            self.limit >> 20
        )
    }
}

impl MemoryPool for SpillLimitPool {
    fn name(&self) -> &str {
        "spill-limit"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        if consumer.can_spill() {
            self.state().spillers += 1;
        }
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        if consumer.can_spill() {
            let mut state = self.state();
            state.spillers = state.spillers.saturating_sub(1);
        }
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        if reservation.consumer().can_spill() {
            self.state().spilling += additional;
        } else {
            self.unspillable.fetch_add(additional, Ordering::Relaxed);
        }
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        if reservation.consumer().can_spill() {
            let mut state = self.state();
            state.spilling = state.spilling.saturating_sub(shrink);
        } else {
            self.unspillable.fetch_sub(shrink, Ordering::Relaxed);
        }
    }

    /// A consumer that can spill gets up to its fair share of the limit (the limit divided
    /// among those registered), and whatever it asks while it holds nothing: after spilling
    /// everything it must still take in one more batch (a refusal then is an error, not a
    /// spill, and a query that ran without a limit must not fail with one).
    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        if !reservation.consumer().can_spill() {
            self.unspillable.fetch_add(additional, Ordering::Relaxed);
            return Ok(());
        }
        let mut state = self.state();
        let share = self.limit / state.spillers.max(1);
        let held = reservation.size();
        if held > 0 && held + additional > share {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{} holds {held} bytes and asks {additional} more: over its share of {share} \
                 bytes ({})",
                reservation.consumer().name(),
                crate::env_vars::SPILL_MEMORY_MIB
            )));
        }
        state.spilling += additional;
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.state().spilling + self.unspillable.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn only_spilling_consumers_are_limited() {
        let pool: Arc<dyn MemoryPool> = Arc::new(SpillLimitPool::new(1000));
        let join = MemoryConsumer::new("join").register(&pool);
        let sort = MemoryConsumer::new("sort")
            .with_can_spill(true)
            .register(&pool);
        // An operator that cannot spill gets what it asks, past the limit.
        join.try_grow(5000).unwrap();
        // One that can spill gets the limit, not more (its fair share: it is alone).
        sort.try_grow(600).unwrap();
        sort.try_grow(400).unwrap();
        assert!(sort.try_grow(1).is_err());
        assert_eq!(pool.reserved(), 6000);
        // With a second one that can spill, each gets half.
        sort.shrink(1000);
        let group = MemoryConsumer::new("group")
            .with_can_spill(true)
            .register(&pool);
        group.try_grow(300).unwrap();
        group.try_grow(200).unwrap();
        assert!(group.try_grow(1).is_err());
        // One that holds nothing (it has just spilled) is never refused its next batch.
        sort.try_grow(2000).unwrap();
        assert!(sort.try_grow(1).is_err());
        join.free();
        sort.free();
        group.free();
        assert_eq!(pool.reserved(), 0);
    }

    /// A context whose operators share `limit` bytes through the pool (`None`: no limit), over
    /// a table of 60k rows with wide text and a small one.
    async fn context(limit: Option<usize>) -> datafusion::prelude::SessionContext {
        use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
        use datafusion::execution::runtime_env::RuntimeEnvBuilder;
        let mut runtime = RuntimeEnvBuilder::new();
        if let Some(limit) = limit {
            runtime = runtime.with_memory_pool(Arc::new(SpillLimitPool::new(limit)));
        }
        let config = datafusion::prelude::SessionConfig::new().with_target_partitions(2);
        let ctx = datafusion::prelude::SessionContext::new_with_config_rt(
            config,
            runtime.build_arc().unwrap(),
        );
        let batches: Vec<RecordBatch> = (0..6)
            .map(|b| {
                let ids: Vec<i64> = (0..10_000).map(|i| (i * 7919 + b * 13) % 60_000).collect();
                let text: Vec<String> = ids.iter().map(|i| format!("{i:0>200}")).collect();
                RecordBatch::try_from_iter([
                    ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
                    ("text", Arc::new(StringArray::from(text)) as ArrayRef),
                ])
                .unwrap()
            })
            .collect();
        ctx.register_batch("small", batches[0].slice(0, 100))
            .unwrap();
        let table =
            datafusion::datasource::MemTable::try_new(batches[0].schema(), vec![batches]).unwrap();
        ctx.register_table("wide", Arc::new(table)).unwrap();
        ctx
    }

    async fn answer(ctx: &datafusion::prelude::SessionContext, sql: &str) -> String {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn a_sort_and_a_grouping_past_the_limit_spill_and_answer_the_same() {
        // 12 MB of rows against 1 MiB: both must spill.
        let (limited, free) = (context(Some(1 << 20)).await, context(None).await);
        for sql in [
            "SELECT id, text FROM wide ORDER BY text DESC, id",
            "SELECT text, count(*) AS n, min(id) AS first FROM wide GROUP BY text ORDER BY text",
        ] {
            assert_eq!(
                answer(&limited, sql).await,
                answer(&free, sql).await,
                "{sql}"
            );
            let plan = answer(&limited, &format!("EXPLAIN ANALYZE {sql}")).await;
            let spilled = plan
                .split("spill_count=")
                .skip(1)
                .any(|rest| !rest.starts_with('0'));
            assert!(spilled, "{sql} did not spill:\n{plan}");
        }
    }

    #[tokio::test]
    async fn a_join_that_cannot_spill_is_not_refused() {
        // The build side (every wide row) is far over the limit; it is held, as with no limit.
        let sql = "SELECT count(*) AS n FROM small s JOIN wide w ON w.text > s.text OR w.id = s.id";
        let (limited, free) = (context(Some(1 << 20)).await, context(None).await);
        assert_eq!(answer(&limited, sql).await, answer(&free, sql).await);
    }
}
