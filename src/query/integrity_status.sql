-- The latest check of each log file and digest (an object reported `not-in-digest` and later
-- named by a backfill digest is `valid` here).
SELECT object, kind, status, digest, account_id, region, expected_sha256, actual_sha256, detail,
       period_end, checked_at
FROM (
  SELECT *, row_number() OVER (PARTITION BY object ORDER BY checked_at DESC, status) AS rn
  FROM integrity
) latest
WHERE rn = 1
