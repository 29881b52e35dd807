-- Copies to hide from `events`: for every dedup_key stored more than once, all copies but the one
-- with the smallest (source_object, source_index), among the rows of `dedup_scope` (one date
-- partition's files: copies of one event share its event time, so a partition holds all or none).
-- `dedup_candidates` holds the keys stored more than once (found by `repeated_keys`); duplicates
-- are rare, so the result is small.
-- `tied` marks a losing copy that has the winner's very (source_object, source_index): two
-- versions of one replaced object, which the anti-join cannot tell apart (see `dedup_events`).
WITH dups AS (
  SELECT candidate_key AS dedup_key FROM dedup_candidates
),
copies AS (
  SELECT e.dedup_key, e.source_object, e.source_index,
         row_number() OVER w AS rn,
         first_value(e.source_object) OVER w AS first_object,
         first_value(e.source_index) OVER w AS first_index
  FROM dedup_scope e JOIN dups d ON e.dedup_key = d.dedup_key
  WINDOW w AS (PARTITION BY e.dedup_key ORDER BY e.source_object, e.source_index)
)
SELECT dedup_key AS loser_key, source_object AS loser_object, source_index AS loser_index,
       (source_object = first_object AND source_index = first_index) AS tied
FROM copies
WHERE rn > 1
