-- id: log_integrity
-- severity: critical
-- summary: CloudTrail log files or digests are missing, altered, or outside the signed chain.
-- metric: Findings
-- mitre: T1070, T1565.001, T1562.008
--
-- ## What it detects
-- Every problem the digest check (`agenttrail verify`, and each `ingest`/`run`) found, at the
-- time it was found: a log file a digest names that is gone (`missing`) or whose SHA-256 differs
-- (`modified`), a log file no digest names (`not-in-digest`), a digest deleted from the chain
-- (`digest-missing`), a chain restarted while older digests exist (`chain-gap`: logging or
-- validation was switched off), a digest that was moved or whose links do not match
-- (`digest-invalid`), a bad RSA signature (`signature-invalid`) or an unknown signing key
-- (`key-unknown`). `event_id` is the object checked, `event_name` the status.
-- ## Why it matters
-- An agent or attacker with write access to the trail bucket can delete or edit the very files
-- that show what it did. CloudTrail signs hourly digests of what it delivered; anything that
-- does not match them is evidence that cannot be trusted, and often a sign of tampering.
-- Events read from such files are listed by `SELECT * FROM tainted_events`.
-- ## Triage
-- Look first at `event_name` (the status) and `event_id` (the object); `SELECT * FROM
-- tainted_events` lists the events read from altered files. `chain-gap` pairs with a `StopLogging`
-- event; `key-unknown` usually means the job lacks `cloudtrail:ListPublicKeys`.
-- ## False positives
-- `key-unknown` when the job may not call `cloudtrail:ListPublicKeys` and no `--public-keys`
-- file is given; `not-in-digest` for a file CloudTrail delivered late, until its backfill digest
-- arrives; `chain-gap` after someone legitimately stopped logging (then `ai_logging_tampering`
-- or CloudTrail's own `StopLogging` event says who).
-- ## References
-- - https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-intro.html
-- - MITRE ATT&CK T1070 (Indicator Removal), T1565.001 (Stored Data Manipulation)
SELECT
  'log_integrity' AS detection_id,
  i.checked_at AS event_time,
  i.object AS event_id,
  i.account_id,
  arrow_cast(NULL, 'Utf8') AS actor_arn,
  arrow_cast(NULL, 'Utf8') AS access_key_id,
  arrow_cast(NULL, 'Utf8') AS mcp_server,
  i.status AS event_name,
  concat_ws(' ', i.kind, i.region, i.detail) AS evidence
FROM integrity i
WHERE i.status <> 'valid'
