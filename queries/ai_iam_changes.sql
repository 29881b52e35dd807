-- id: ai_iam_changes
-- severity: high
-- summary: An AI-driven call changed IAM permissions or credentials.
-- metric: Findings
-- mitre: T1098, T1098.001, T1136.003
--
-- ## What it detects
-- Successful IAM calls by an AI agent that grant or change permissions or create credentials:
-- attaching, detaching, putting or deleting policies, new policy versions, trust-policy changes,
-- new roles, users, access keys and login profiles, group membership, and the removal of
-- permission boundaries.
-- ## Why it matters
-- An agent that can change its own (or anyone's) permissions can escalate privileges; a
-- prompt-injected agent may try exactly that.
-- ## Triage
-- Look first at the policy or principal changed (`evidence`) and whether the change widens the
-- agent's own permissions (a role attaching a policy to itself). Common false positives:
-- infrastructure agents run by the platform team under change control.
-- ## False positives
-- Agents that manage IAM as their task (infrastructure-as-code runners). Give them a dedicated
-- role and suppress by `actor_arn`.
-- ## References
-- - https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-integration.html
SELECT
  'ai_iam_changes' AS detection_id,
  e.event_time,
  e.event_id,
  e.recipient_account_id AS account_id,
  e.identity_arn AS actor_arn,
  e.access_key_id,
  e.mcp_server,
  e.event_name,
  concat_ws(' ',
    coalesce(json_get_str(e.request_parameters, 'roleName'), json_get_str(e.request_parameters, 'userName'),
             json_get_str(e.request_parameters, 'groupName'), json_get_str(e.request_parameters, 'policyArn')),
    json_get_str(e.request_parameters, 'policyArn'),
    'via ' || e.ai_mechanism,
    'for ' || e.ai_principal,
    'tool ' || e.mcp_tool
  ) AS evidence
FROM events e
WHERE e.is_ai
  AND e.error_code IS NULL
  AND e.event_source = 'iam.amazonaws.com'
  AND e.event_name IN (
    'AttachRolePolicy', 'AttachUserPolicy', 'AttachGroupPolicy',
    'DetachRolePolicy', 'DetachUserPolicy', 'DetachGroupPolicy',
    'PutRolePolicy', 'PutUserPolicy', 'PutGroupPolicy',
    'DeleteRolePolicy', 'DeleteUserPolicy', 'DeleteGroupPolicy',
    'CreatePolicyVersion', 'SetDefaultPolicyVersion', 'UpdateAssumeRolePolicy',
    'CreateRole', 'CreateUser', 'CreateAccessKey', 'UpdateAccessKey',
    'CreateLoginProfile', 'UpdateLoginProfile', 'AddUserToGroup',
    'DeleteRolePermissionsBoundary', 'DeleteUserPermissionsBoundary',
    'PutRolePermissionsBoundary', 'PutUserPermissionsBoundary'
  )
