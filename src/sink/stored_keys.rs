//! What a keyed insert learnt about the keys already stored, kept for the next commit of the run.
//!
//! Why: [`super::delta::insert_new`] must not store an event twice, so each commit reads the
//! `dedup_key`s already stored on the dates it touches. An ingest of ten commits into one day read
//! that day's keys ten times over, the k-th commit the k−1 commits before it: at a million events a
//! day, 4.5 million stored keys read back for one million written, and 19.5 million at 25,000 rows
//! a commit (8–12% of that run's time, BENCHMARKS.md run O: part of what smaller commits, and with
//! them less memory, cost). Now a commit reads a date's stored keys once per process and keeps them
//! as 64-bit hashes; the next commit to the same date checks its keys against the hashes and reads
//! nothing back when none matches.
//!
//! Why it stays exact:
//! - A hash set answers "certainly not stored" or "perhaps": a key whose hash is in the set (a copy
//!   of an event stored before, or a collision) sends its date back to the exact scan, which
//!   rebuilds that date's hashes.
//! - The hashes are trusted only at the table version they describe: the version of this process's
//!   own last commit to the table. A commit by anyone else in between (another worker, a
//!   compaction, a lost answer that was retried) changes the version, and the table's hashes are
//!   dropped before they are read. A commit that delta-rs landed after another writer's (one that
//!   touched other dates, so no conflict) forgets every date: those it did not read may have
//!   changed.
//! - A date evicted to keep memory bounded (`budget`, least recently used first) is scanned again.
//!
//! The hashes live in the [`super::Lake`] value and its clones, so they last one process; nothing
//! is written to the lake.

use std::collections::HashMap;
use std::hash::BuildHasher;

use deltalake::kernel::Version;
use hashbrown::HashTable;

/// Hashes kept at most, over all tables and dates: 2M hashes take 20–40 MB.
pub const DEFAULT_BUDGET: usize = 2_000_000;

/// The stored keys known per table (by URL) and partition value, as hashes.
pub struct StoredKeys {
    tables: HashMap<String, TableKeys>,
    hasher: hashbrown::DefaultHashBuilder,
    budget: usize,
    clock: u64,
    partitions_read: u64,
}

impl std::fmt::Debug for StoredKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKeys")
            .field("tables", &self.tables.len())
            .field("held", &self.held())
            .field("budget", &self.budget)
            .finish()
    }
}

impl Default for StoredKeys {
    fn default() -> Self {
        StoredKeys::with_budget(DEFAULT_BUDGET)
    }
}

impl StoredKeys {
    /// Keep at most `budget` hashes.
    pub fn with_budget(budget: usize) -> StoredKeys {
        StoredKeys {
            tables: HashMap::new(),
            hasher: hashbrown::DefaultHashBuilder::default(),
            budget,
            clock: 0,
            partitions_read: 0,
        }
    }

    /// Take the hashes of table `url` out for a commit on the table at `version`; empty when
    /// they describe another version (or none). Put them back with [`StoredKeys::put`] once the
    /// commit landed; a commit that failed just drops them.
    pub fn take(&mut self, url: &str, version: Version) -> TableKeys {
        self.clock += 1;
        match self.tables.remove(url) {
            Some(mut keys) if keys.version == version => {
                keys.clock = self.clock;
                keys
            }
            _ => TableKeys {
                version,
                parts: HashMap::new(),
                hasher: self.hasher.clone(),
                clock: self.clock,
                read: 0,
            },
        }
    }

    /// Keep `keys` of table `url` (now at `keys.version`), then evict the least recently used
    /// dates beyond the budget.
    pub fn put(&mut self, url: &str, mut keys: TableKeys) {
        self.partitions_read += std::mem::take(&mut keys.read);
        self.tables.insert(url.to_string(), keys);
        let mut held: usize = self.held();
        while held > self.budget {
            let oldest = self
                .tables
                .iter()
                .flat_map(|(t, k)| k.parts.iter().map(move |(p, part)| (part.used, t, p)))
                .min_by_key(|(used, _, _)| *used)
                .map(|(_, t, p)| (t.clone(), p.clone()));
            let Some((table, part)) = oldest else { break };
            if let Some(keys) = self.tables.get_mut(&table)
                && let Some(gone) = keys.parts.remove(&part)
            {
                held -= gone.hashes.len();
            }
        }
    }

    /// How many times commits put back here read a partition's stored keys.
    pub fn partitions_read(&self) -> u64 {
        self.partitions_read
    }

    /// Hashes held, over all tables.
    pub fn held(&self) -> usize {
        self.tables
            .values()
            .flat_map(|k| k.parts.values())
            .map(|p| p.hashes.len())
            .sum()
    }
}

/// One table's known stored keys, by partition value (`""` for an unpartitioned table).
pub struct TableKeys {
    /// The table version the hashes describe.
    pub version: Version,
    parts: HashMap<String, Part>,
    hasher: hashbrown::DefaultHashBuilder,
    clock: u64,
    /// Partitions read since taken.
    read: u64,
}

#[derive(Default)]
struct Part {
    hashes: HashTable<u64>,
    /// When it was last used (the clock of [`StoredKeys::take`]; for eviction).
    used: u64,
}

impl TableKeys {
    /// The hash of `key`.
    pub fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Whether every stored key of partition `part` is known.
    pub fn knows(&self, part: &str) -> bool {
        self.parts.contains_key(part)
    }

    /// Whether a key hashing to `hash` may be stored in partition `part`: false only when the
    /// partition is known and no stored key has that hash.
    pub fn may_hold(&self, part: &str, hash: u64) -> bool {
        self.parts
            .get(part)
            .is_none_or(|p| p.hashes.find(hash, |h| *h == hash).is_some())
    }

    /// Forget what is known of partition `part` and learn it again from its stored keys'
    /// `hashes` (those the exact scan read; more can follow with [`TableKeys::stored`]).
    pub fn learn(&mut self, part: &str, hashes: impl IntoIterator<Item = u64>) {
        let mut p = Part {
            used: self.clock,
            ..Part::default()
        };
        for h in hashes {
            insert(&mut p.hashes, h);
        }
        self.parts.insert(part.to_string(), p);
    }

    /// Partition `part` is being read whole: what was known of it is forgotten, and each key
    /// read is recorded with [`TableKeys::stored`].
    pub fn reading(&mut self, part: &str) {
        self.learn(part, []);
        self.read += 1;
    }

    /// Record a key (by hash) this process stored in partition `part`; nothing when the
    /// partition is not known (its next commit scans it anyway).
    pub fn stored(&mut self, part: &str, hash: u64) {
        if let Some(p) = self.parts.get_mut(part) {
            insert(&mut p.hashes, hash);
        }
    }

    /// Forget every partition (their stored keys may have changed unseen).
    pub fn forget(&mut self) {
        self.parts.clear();
    }

    /// Mark partition `part` as used by the commit now running.
    pub fn touch(&mut self, part: &str) {
        let clock = self.clock;
        if let Some(p) = self.parts.get_mut(part) {
            p.used = clock;
        }
    }
}

/// Insert `h` into `set` once (the hash is its own hash).
fn insert(set: &mut HashTable<u64>, h: u64) {
    if set.find(h, |x| *x == h).is_none() {
        set.insert_unique(h, h, |x| *x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_partition_answers_certainly_not_only_for_keys_it_does_not_hold() {
        let mut all = StoredKeys::default();
        let mut keys = all.take("t", 3);
        assert!(!keys.knows("2026-11-20"));
        assert!(
            keys.may_hold("2026-11-20", keys.hash("a")),
            "unknown: perhaps"
        );
        let stored = ["a", "b"].map(|k| keys.hash(k));
        keys.learn("2026-11-20", stored);
        assert!(keys.may_hold("2026-11-20", keys.hash("a")));
        assert!(!keys.may_hold("2026-11-20", keys.hash("c")));
        keys.stored("2026-11-20", keys.hash("c"));
        assert!(keys.may_hold("2026-11-20", keys.hash("c")));
        keys.stored("2026-11-21", keys.hash("d"));
        assert!(
            !keys.knows("2026-11-21"),
            "a write to an unknown date teaches nothing"
        );
        all.put("t", keys);
        assert_eq!(all.held(), 3);
    }

    #[test]
    fn hashes_of_another_version_are_dropped() {
        let mut all = StoredKeys::default();
        let mut keys = all.take("t", 3);
        keys.learn("d", [1, 2]);
        all.put("t", keys);
        assert!(all.take("t", 3).knows("d"), "same version: kept");
        let mut keys = all.take("t", 3);
        keys.learn("d", [1, 2]);
        all.put("t", keys);
        assert!(!all.take("t", 4).knows("d"), "another version: dropped");
        assert_eq!(all.held(), 0);
    }

    #[test]
    fn the_least_recently_used_dates_are_evicted_beyond_the_budget() {
        let mut all = StoredKeys::with_budget(5);
        let mut keys = all.take("t", 1);
        keys.learn("old", [1, 2]);
        keys.touch("old");
        all.put("t", keys);
        let mut keys = all.take("t", 1);
        keys.learn("new", [3, 4, 5]);
        keys.touch("new");
        all.put("t", keys);
        assert_eq!(all.held(), 5);
        let mut keys = all.take("t", 1);
        keys.touch("new");
        keys.stored("new", 6);
        all.put("t", keys);
        assert_eq!(all.held(), 4, "over the budget: the older date goes");
        let keys = all.take("t", 1);
        assert!(keys.knows("new") && !keys.knows("old"));
    }
}
