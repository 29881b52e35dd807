-- id: ai_logging_tampering
-- severity: critical
-- summary: An AI-driven call weakened logging or threat detection.
-- metric: Findings
-- mitre: T1562.008
--
-- ## What it detects
-- Successful calls by an AI agent that stop or narrow audit logging and detection: CloudTrail
-- (`StopLogging`, `DeleteTrail`, `UpdateTrail`, `PutEventSelectors`, `PutInsightSelectors`),
-- VPC flow logs (`DeleteFlowLogs`), GuardDuty (`DeleteDetector`, `UpdateDetector`,
-- `DisassociateFromMasterAccount`, `DisassociateFromAdministratorAccount`,
-- `StopMonitoringMembers`), AWS Config (`StopConfigurationRecorder`,
-- `DeleteConfigurationRecorder`, `DeleteDeliveryChannel`) and CloudWatch Logs (`DeleteLogGroup`).
-- ## Why it matters
-- Blinding the audit trail is the classic step before or after abuse; no agent should need it.
-- ## Triage
-- Treat as an incident: check that the trail is logging again (`aws cloudtrail get-trail-status`),
-- run `agenttrail verify` for gaps, and look at everything the same session did next. Common false
-- positive: a sanctioned agent rotating a trail's configuration.
-- ## False positives
-- Rare: an agent administering logging configuration on purpose.
-- ## References
-- - https://docs.aws.amazon.com/awscloudtrail/latest/userguide/best-practices-security.html
SELECT
  'ai_logging_tampering' AS detection_id,
  e.event_time,
  e.event_id,
  e.recipient_account_id AS account_id,
  e.identity_arn AS actor_arn,
  e.access_key_id,
  e.mcp_server,
  e.event_name,
  concat_ws(' ', e.event_source,
    coalesce(json_get_str(e.request_parameters, 'name'), json_get_str(e.request_parameters, 'trailName'),
             json_get_str(e.request_parameters, 'detectorId'), json_get_str(e.request_parameters, 'logGroupName')),
    'via ' || e.ai_mechanism,
    'for ' || e.ai_principal,
    'tool ' || e.mcp_tool) AS evidence
FROM events e
WHERE e.is_ai
  AND e.error_code IS NULL
  AND e.event_name IN (
    'StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors', 'PutInsightSelectors',
    'DeleteFlowLogs', 'DeleteDetector', 'UpdateDetector', 'DisassociateFromMasterAccount',
    'DisassociateFromAdministratorAccount', 'StopMonitoringMembers',
    'StopConfigurationRecorder', 'DeleteConfigurationRecorder', 'DeleteDeliveryChannel',
    'DeleteLogGroup'
  )
