-- id: ai_deletions
-- severity: high
-- summary: An AI-driven call deleted or terminated a resource.
-- metric: Findings
-- mitre: T1485, T1490, T1578.003
--
-- ## What it detects
-- Successful calls made by an AI agent (any mechanism: AWS-managed MCP server, tagged or chained
-- session, agent role, source identity; low-confidence matches included and marked in `evidence`)
-- that delete, terminate or schedule the destruction of a resource:
-- every `Delete*` API (S3 objects and buckets, DynamoDB tables and backups, RDS instances,
-- clusters and snapshots, Lambda functions, IAM users, roles, policies and keys, CloudFormation
-- stacks, ECR repositories, EKS clusters, log groups, …), `TerminateInstances`,
-- `ScheduleKeyDeletion`, `PurgeQueue`, `DeregisterImage`, `DisableKey`, `RemovePermission`.
-- ## Why it matters
-- An agent can destroy production data at machine speed after a hallucination or a prompt
-- injection; this is the signal behind the main alarm.
-- ## Triage
-- Look first at what was deleted (`evidence`), through which server and tool (`mcp_server`,
-- `mcp_tool`), and for whom (`ai_principal`); then `agenttrail session <access key>` for the calls
-- before it (a listing then a delete is a plan; a delete out of nowhere after reading untrusted
-- input is a prompt injection). Common false positives: clean-up agents on scratch resources.
-- ## False positives
-- Agents whose job is clean-up. Scope them with a dedicated role and exclude it here, or raise
-- the alarm threshold for that account.
-- ## References
-- - https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html
SELECT
  'ai_deletions' AS detection_id,
  e.event_time,
  e.event_id,
  e.recipient_account_id AS account_id,
  e.identity_arn AS actor_arn,
  e.access_key_id,
  e.mcp_server,
  e.event_name,
  concat_ws(' ',
    e.event_source,
    coalesce(
      json_get_str(e.request_parameters, 'bucketName') || '/' || json_get_str(e.request_parameters, 'key'),
      json_get_str(e.request_parameters, 'bucketName'),
      json_get_str(e.request_parameters, 'tableName'),
      json_get_str(e.request_parameters, 'functionName'),
      json_get_str(e.request_parameters, 'dBInstanceIdentifier'),
      json_get_str(e.request_parameters, 'stackName'),
      json_get_str(e.request_parameters, 'keyId'),
      json_get_str(e.request_parameters, 'roleName'),
      json_get_str(e.request_parameters, 'userName'),
      json_get_str(e.request_parameters, 'instancesSet', 'items', 0, 'instanceId')
    ),
    'via ' || e.ai_mechanism || ' (' || e.ai_confidence || ')',
    'for ' || e.ai_principal,
    'client ' || e.mcp_client,
    'tool ' || e.mcp_tool
  ) AS evidence
FROM events e
WHERE e.is_ai
  AND e.error_code IS NULL
  AND (
    e.event_name LIKE 'Delete%'
    OR e.event_name IN ('TerminateInstances', 'ScheduleKeyDeletion', 'PurgeQueue', 'DeregisterImage',
                        'DisableKey', 'RemovePermission')
  )
