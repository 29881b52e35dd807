#!/usr/bin/env python3
"""Write tests/detections/<id>.json: CloudTrail bodies with events that must fire (eventID
"fires-…") and near-misses that must not ("quiet-…") for each detection in queries/.
Expected rows live beside them in <id>.csv (reviewed; regenerate with
AGENTTRAIL_UPDATE_EXPECTED=1 cargo test --test it detections)."""
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "detections")
ACCT = "111122223333"
T0 = "2026-11-20T10:00:00Z"


def ts(minute, second=0):
    h, m = divmod(minute, 60)
    return f"2026-11-20T{10 + h:02d}:{m:02d}:{second:02d}Z"


def assumed(role, session, key, invoked_by=None):
    i = {"type": "AssumedRole", "principalId": f"AROA:{session}", "arn": f"arn:aws:sts::{ACCT}:assumed-role/{role}/{session}",
         "accountId": ACCT, "accessKeyId": key,
         "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{ACCT}:role/{role}", "userName": role},
                            "attributes": {"creationDate": T0, "mfaAuthenticated": "false"}}}
    if invoked_by:
        i["invokedBy"] = invoked_by
    return i


def user(name, key):
    return {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCT}:user/{name}", "accountId": ACCT, "accessKeyId": key, "userName": name}


HOST = assumed("mcp-server-host", "i-0abc", "ASIAHOST000000000001")
BOB = user("bob", "AKIABOB0000000000001")
AGENT = assumed("agent-role", "agent-1", "ASIAAGENT00000000001")
MANAGED = assumed("AWSReservedSSO_Dev", "carol@example.com", "ASIACAROL0000000001", invoked_by="aws-mcp.amazonaws.com")


def ev(eid, minute, ident, source, name, params=None, error=None, region="eu-west-1", ua="aws-sdk-python/1.35.0", second=0):
    r = {"eventVersion": "1.11", "userIdentity": ident, "eventTime": ts(minute, second), "eventSource": source, "eventName": name,
         "awsRegion": region, "sourceIPAddress": "203.0.113.10", "userAgent": ua, "requestParameters": params,
         "responseElements": None, "requestID": "req-" + eid, "eventID": eid, "readOnly": name.startswith(("Get", "List", "Describe")),
         "eventType": "AwsApiCall", "managementEvent": True, "recipientAccountId": ACCT, "eventCategory": "Management"}
    if ident.get("invokedBy", "").endswith("-mcp.amazonaws.com"):
        r["sourceIPAddress"] = r["userAgent"] = ident["invokedBy"]
    if error:
        r["errorCode"] = error
        r["errorMessage"] = "denied"
    return r


def assume(eid, minute, caller, role, session, key, tags=None, policy=None, principal_tags=None, transitive=None, api="AssumeRole"):
    p = {"roleArn": f"arn:aws:iam::{ACCT}:role/{role}", "roleSessionName": session}
    if tags:
        p["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    if principal_tags:
        p["principalTags"] = principal_tags
    if transitive:
        p["incomingTransitiveTags"] = transitive
    if policy:
        p["policy"] = policy
    r = ev(eid, minute, caller, "sts.amazonaws.com", api, p, region="us-east-1")
    r["responseElements"] = {"credentials": {"accessKeyId": key, "expiration": "Nov 20, 2026, 11:00:00 PM"},
                             "assumedRoleUser": {"arn": f"arn:aws:sts::{ACCT}:assumed-role/{role}/{session}", "assumedRoleId": f"AROA:{session}"}}
    r["readOnly"] = True
    return r


AI_TAGS = {"AccessType": "AI", "MCPServer": "s3-tools"}
SETUP = assume("setup-assume-agent", 0, HOST, "agent-role", "agent-1", "ASIAAGENT00000000001", tags=AI_TAGS)

FIXTURES = {
    "ai_deletions": [
        SETUP,
        ev("fires-delete-object-by-tagged-session", 5, AGENT, "s3.amazonaws.com", "DeleteObject", {"bucketName": "prod-data", "key": "a.parquet"}),
        ev("fires-terminate-by-managed-mcp", 6, MANAGED, "ec2.amazonaws.com", "TerminateInstances",
           {"instancesSet": {"items": [{"instanceId": "i-0123"}]}}),
        ev("fires-schedule-key-deletion", 7, AGENT, "kms.amazonaws.com", "ScheduleKeyDeletion", {"keyId": "1234abcd", "pendingWindowInDays": 7}),
        ev("quiet-delete-by-human", 8, BOB, "s3.amazonaws.com", "DeleteObject", {"bucketName": "prod-data", "key": "b.parquet"}),
        ev("quiet-failed-delete-by-agent", 9, AGENT, "s3.amazonaws.com", "DeleteBucket", {"bucketName": "prod-data"}, error="AccessDenied"),
        ev("quiet-describe-by-agent", 10, AGENT, "ec2.amazonaws.com", "DescribeInstances", {}),
    ],
    "ai_iam_changes": [
        SETUP,
        ev("fires-attach-admin-policy", 5, AGENT, "iam.amazonaws.com", "AttachRolePolicy",
           {"roleName": "agent-role", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
        ev("fires-create-access-key-via-managed-mcp", 6, MANAGED, "iam.amazonaws.com", "CreateAccessKey", {"userName": "svc"}),
        ev("quiet-attach-by-human", 7, BOB, "iam.amazonaws.com", "AttachRolePolicy", {"roleName": "x", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
        ev("quiet-list-roles-by-agent", 8, AGENT, "iam.amazonaws.com", "ListRoles", {}),
        ev("quiet-denied-attach-by-agent", 9, AGENT, "iam.amazonaws.com", "AttachUserPolicy", {"userName": "bob"}, error="AccessDenied"),
    ],
    "ai_logging_tampering": [
        SETUP,
        ev("fires-stop-logging", 5, AGENT, "cloudtrail.amazonaws.com", "StopLogging", {"name": "org-trail"}),
        ev("fires-delete-detector-via-managed-mcp", 6, MANAGED, "guardduty.amazonaws.com", "DeleteDetector", {"detectorId": "d-1"}),
        ev("quiet-stop-logging-by-human", 7, BOB, "cloudtrail.amazonaws.com", "StopLogging", {"name": "org-trail"}),
        ev("quiet-describe-trails-by-agent", 8, AGENT, "cloudtrail.amazonaws.com", "DescribeTrails", {}),
    ],
    "ai_access_denied_burst": [
        SETUP,
        assume("setup-assume-agent-2", 0, HOST, "agent-role", "agent-2", "ASIAAGENT00000000002", tags=AI_TAGS),
        *[ev(f"fires-denied-{i}", 20, AGENT, "iam.amazonaws.com", "ListUsers", {}, error="AccessDenied", second=10 * i) for i in range(1, 6)],
        *[ev(f"quiet-agent2-denied-{i}", 21, assumed("agent-role", "agent-2", "ASIAAGENT00000000002"), "s3.amazonaws.com",
             "GetObject", {}, error="AccessDenied", second=10 * i) for i in range(1, 5)],
        *[ev(f"quiet-human-denied-{i}", 22, BOB, "iam.amazonaws.com", "ListUsers", {}, error="AccessDenied", second=5 * i) for i in range(1, 7)],
        ev("quiet-agent-denied-later-bucket", 31, AGENT, "iam.amazonaws.com", "ListUsers", {}, error="AccessDenied"),
    ],
    "unapproved_mcp_server": [
        assume("setup-assume-rogue", 0, HOST, "agent-role", "agent-9", "ASIAROGUE00000000001", tags={"AccessType": "AI", "MCPServer": "rogue-tools"}),
        ev("fires-call-through-rogue-server", 5, assumed("agent-role", "agent-9", "ASIAROGUE00000000001"), "s3.amazonaws.com", "ListBuckets", {}),
        ev("fires-call-through-rogue-server-2", 6, assumed("agent-role", "agent-9", "ASIAROGUE00000000001"), "s3.amazonaws.com", "GetObject", {}),
        ev("quiet-call-through-managed-server", 7, MANAGED, "s3.amazonaws.com", "ListBuckets", {}),
        ev("quiet-human-call", 8, BOB, "s3.amazonaws.com", "ListBuckets", {}),
    ],
    "mcp_bypass": [
        SETUP,
        ev("quiet-agent-call", 5, AGENT, "s3.amazonaws.com", "ListBuckets", {}),
        assume("quiet-bob-assumes-agent-role", 20, BOB, "agent-role", "bob-debug", "ASIABOBSESSION000001"),
        ev("fires-direct-call-with-agent-role", 30, assumed("agent-role", "bob-debug", "ASIABOBSESSION000001"), "s3.amazonaws.com",
           "DeleteObject", {"bucketName": "prod-data", "key": "c"}, ua="aws-cli/2.22.0"),
        ev("fires-direct-call-hours-later", 200, assumed("agent-role", "bob-debug", "ASIABOBSESSION000001"), "s3.amazonaws.com",
           "ListBuckets", {}, ua="aws-cli/2.22.0"),
        ev("quiet-bob-own-user", 31, BOB, "s3.amazonaws.com", "ListBuckets", {}, ua="aws-cli/2.22.0"),
        # Carol's own SSO role: her agent used it through the AWS MCP server, then she used it herself.
        ev("quiet-agent-through-managed-mcp", 40, MANAGED, "s3.amazonaws.com", "ListBuckets", {}),
        ev("quiet-person-own-role-after-agent", 45, assumed("AWSReservedSSO_Dev", "carol@example.com", "ASIACAROL0000000001"),
           "s3.amazonaws.com", "DeleteObject", {"bucketName": "team-notes", "key": "draft"}, ua="aws-cli/2.22.0"),
    ],
    "ai_session_without_session_policy": [
        assume("fires-assume-without-policy", 0, HOST, "agent-role", "agent-1", "ASIAAGENT00000000001", tags=AI_TAGS),
        assume("quiet-assume-with-policy", 1, HOST, "agent-role", "agent-3", "ASIAAGENT00000000003", tags=AI_TAGS,
               policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'),
        assume("quiet-assume-by-human-without-policy", 2, BOB, "agent-role", "bob", "ASIABOBSESSION000001"),
    ],
    "ai_tags_from_unexpected_caller": [
        assume("quiet-assume-by-mcp-host", 0, HOST, "agent-role", "agent-1", "ASIAAGENT00000000001", tags=AI_TAGS),
        assume("fires-assume-by-laptop-user", 1, user("mallory", "AKIAMALLORY000000001"), "agent-role", "totally-an-agent",
               "ASIAMALLORY000000001", tags=AI_TAGS),
        assume("quiet-chained-from-agent", 2, AGENT, "deployer", "agent-1-c", "ASIACHAIN00000000001",
               transitive={"AccessType": "AI"}),
        assume("quiet-untagged-by-human", 3, BOB, "agent-role", "bob", "ASIABOBSESSION000001"),
    ],
}

# Detections over the trail itself (log-file integrity): a fixture is a set of log files, signed with
# hourly digests by the test harness (agenttrail's own digest writer and the committed test key),
# then tampered with as each file's "tamper" says: "modify" (a byte changes after signing),
# "delete" (removed after signing), "inject" (written after signing, never in a digest),
# "backfill" (delivered late and named by a backfill digest: valid). Files named fires-… must be
# found; quiet-… ones must not.
def trail_file(name, time, minute, tamper=None):
    f = {"name": name, "time": time, "Records": [
        ev(f"{name}-0001", minute, BOB, "s3.amazonaws.com", "GetObject", {"bucketName": "reports", "key": name})]}
    if tamper:
        f["tamper"] = tamper
    return f


TRAIL_FIXTURES = {
    "log_integrity": [
        trail_file("quiet-intact", "20261120T1005Z", 5),
        trail_file("fires-modified", "20261120T1010Z", 10, "modify"),
        trail_file("fires-deleted", "20261120T1015Z", 15, "delete"),
        trail_file("fires-injected", "20261120T1020Z", 20, "inject"),
        trail_file("quiet-backfilled", "20261120T1025Z", 25, "backfill"),
        trail_file("quiet-next-hour", "20261120T1105Z", 65),
        trail_file("quiet-hour-after", "20261120T1205Z", 125),
    ],
}

def on_day(record, day, hhmm="10:05"):
    """The record moved `day` days after 2026-11-20, at hh:mm (for detections that look back days)."""
    import datetime
    d = datetime.date(2026, 11, 20) + datetime.timedelta(days=day)
    record["eventTime"] = f"{d.isoformat()}T{hhmm}:00Z"
    return record


FIXTURES["ai_first_seen_api"] = [
    SETUP,
    # Day 0: the agent's first calls build its baseline (a principal with no history is not
    # reported: everything would be new).
    ev("quiet-baseline-list", 5, AGENT, "s3.amazonaws.com", "ListBuckets", {}),
    ev("quiet-baseline-get", 6, AGENT, "s3.amazonaws.com", "GetObject", {"bucketName": "reports", "key": "a"}),
    # Day 3: the same API again, and one it never called.
    on_day(ev("quiet-known-api-again", 0, AGENT, "s3.amazonaws.com", "ListBuckets", {}), 3),
    on_day(ev("fires-new-api-delete-bucket", 0, AGENT, "s3.amazonaws.com", "DeleteBucket", {"bucketName": "reports"}), 3, "10:06"),
    # A person calling an API for the first time is not an agent.
    on_day(ev("quiet-human-new-api", 0, BOB, "iam.amazonaws.com", "CreateUser", {"userName": "eve"}), 3, "10:07"),
    # Day 10: the agent keeps working (its baseline for day 20), with an API it knows.
    on_day(ev("quiet-known-api-day-10", 0, AGENT, "s3.amazonaws.com", "ListBuckets", {}), 10),
    # Day 20: an API last called 17 days ago counts as new again (look-back 14 days).
    on_day(ev("fires-api-unused-for-17-days", 0, AGENT, "s3.amazonaws.com", "GetObject", {"bucketName": "reports", "key": "b"}), 20),
    # … but the same day's second call of it does not.
    on_day(ev("quiet-second-call-same-day", 0, AGENT, "s3.amazonaws.com", "GetObject", {"bucketName": "reports", "key": "c"}), 20, "10:30"),
]

CONFIG = {
    "ai_tags_from_unexpected_caller": '[classify]\nmcp_server_callers = ["arn:aws:sts::*:assumed-role/mcp-server-host/*"]\n',
}

os.makedirs(OUT, exist_ok=True)
for did, records in FIXTURES.items():
    with open(os.path.join(OUT, f"{did}.json"), "w") as f:
        json.dump({"Records": records}, f, indent=1)
        f.write("\n")
    if did in CONFIG:
        with open(os.path.join(OUT, f"{did}.toml"), "w") as f:
            f.write(CONFIG[did])
for did, files in TRAIL_FIXTURES.items():
    with open(os.path.join(OUT, f"{did}.json"), "w") as f:
        json.dump({"files": files}, f, indent=1)
        f.write("\n")
print(f"wrote {len(FIXTURES) + len(TRAIL_FIXTURES)} fixtures to {OUT}")
