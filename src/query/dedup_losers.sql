-- Copies to hide from `events`: for every dedup_key stored more than once, all copies but the one
-- with the smallest (source_object, source_index). Only one column is grouped over the whole
-- table, so this stays cheap; duplicates are rare, so the result is small.
WITH dups AS (
  SELECT dedup_key FROM lake_events GROUP BY dedup_key HAVING count(*) > 1
),
copies AS (
  SELECT e.dedup_key, e.source_object, e.source_index,
         row_number() OVER (PARTITION BY e.dedup_key ORDER BY e.source_object, e.source_index) AS rn
  FROM lake_events e JOIN dups d ON e.dedup_key = d.dedup_key
)
SELECT dedup_key AS loser_key, source_object AS loser_object, source_index AS loser_index
FROM copies
WHERE rn > 1
