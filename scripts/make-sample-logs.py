#!/usr/bin/env python3
"""Write sample-logs/: a small, realistic CloudTrail tree showing every case agenttrail cares about.

Deterministic (fixed seed, gzip without timestamps): re-running it reproduces the committed files
byte for byte. Every identifier is fictitious (accounts 111122223333 and 444455556666, example
ARNs, documentation IP ranges). See sample-logs/README.md for what each story contains.
"""
import gzip
import zlib
import json
import os
import random
import shutil
import sys
from datetime import datetime, timedelta, timezone

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sample-logs")
ACCT = "111122223333"
ACCT2 = "444455556666"
DAY = datetime(2026, 11, 20, tzinfo=timezone.utc)
rng = random.Random(20261120)
files = {}  # (account, region, kind, hour) -> [records]
_eid = [0]


def eid(label):
    _eid[0] += 1
    return f"{label}-{_eid[0]:04d}"


def reqid():
    return "".join(rng.choice("0123456789ABCDEF") for _ in range(16))


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def sts_expiry(t):
    # CloudTrail writes credential expiry as e.g. "Nov 20, 2026, 3:05:22 PM" (UTC).
    e = t + timedelta(hours=1)
    return e.strftime("%b %d, %Y, ") + str(int(e.strftime("%I"))) + e.strftime(":%M:%S %p")


def add(rec, t, region, account=ACCT, kind="CloudTrail"):
    rec.setdefault("eventVersion", "1.11")
    rec["eventTime"] = ts(t)
    rec.setdefault("awsRegion", region)
    rec.setdefault("requestID", reqid())
    rec.setdefault("eventID", eid("evt"))
    rec.setdefault("eventType", "AwsApiCall")
    rec.setdefault("managementEvent", True)
    rec.setdefault("recipientAccountId", account)
    rec.setdefault("eventCategory", "Management")
    files.setdefault((account, region, kind, t.hour), []).append(rec)
    return rec


def assumed(role, session, key, account=ACCT, created=None, source_identity=None, invoked_by=None):
    ident = {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLE{zlib.crc32(role.encode()) % 10**6:06d}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": f"AROAEXAMPLE{zlib.crc32(role.encode()) % 10**6:06d}",
                "arn": f"arn:aws:iam::{account}:role/{role}",
                "accountId": account,
                "userName": role,
            },
            "attributes": {"creationDate": ts(created or DAY), "mfaAuthenticated": "false"},
        },
    }
    if source_identity:
        ident["sessionContext"]["sourceIdentity"] = source_identity
    if invoked_by:
        ident["invokedBy"] = invoked_by
    return ident


def iam_user(name, key):
    return {
        "type": "IAMUser",
        "principalId": f"AIDAEXAMPLE{name.upper()}",
        "arn": f"arn:aws:iam::{ACCT}:user/{name}",
        "accountId": ACCT,
        "accessKeyId": key,
        "userName": name,
    }


def call(ident, source, name, t, region, params=None, response=None, ua="aws-cli/2.22.0 Python/3.12.6 Linux/6.8 exe/x86_64 prompt/off command/" ,
         ip="198.51.100.23", error=None, read_only=None, label="evt", extra=None, category="Management"):
    rec = {
        "userIdentity": ident,
        "eventSource": source,
        "eventName": name,
        "sourceIPAddress": ip,
        "userAgent": ua,
        "requestParameters": params,
        "responseElements": response,
        "readOnly": read_only if read_only is not None else name.startswith(("Get", "List", "Describe", "Head")),
        "eventID": eid(label),
        "eventCategory": category,
    }
    if category == "Data":
        rec["managementEvent"] = False
    if error:
        rec["errorCode"] = error
        rec["errorMessage"] = f"User is not authorized to perform: {name}"
    if extra:
        rec.update(extra)
    return add(rec, t, region)


def assume_role(caller, role, session, t, new_key, tags=None, principal_tags=None, transitive=None,
                api="AssumeRole", error=None, label="sts", ua="aws-sdk-python/1.35.0", policy=None, source_identity=None):
    params = {"roleArn": f"arn:aws:iam::{ACCT}:role/{role}", "roleSessionName": session, "durationSeconds": 3600}
    if tags is not None:
        params["tags"] = tags
        params["transitiveTagKeys"] = [t_["key"] for t_ in tags if t_["key"] == "MCPServer"]
    if principal_tags is not None:
        params["principalTags"] = principal_tags
    if transitive is not None:
        params["incomingTransitiveTags"] = transitive
    if policy:
        params["policy"] = policy
    if source_identity:
        params["sourceIdentity"] = source_identity
    response = None
    if not error:
        response = {
            "credentials": {"accessKeyId": new_key, "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE", "expiration": sts_expiry(t)},
            "assumedRoleUser": {
                "assumedRoleId": f"AROAEXAMPLE{zlib.crc32(role.encode()) % 10**6:06d}:{session}",
                "arn": f"arn:aws:sts::{ACCT}:assumed-role/{role}/{session}",
            },
        }
        if tags is not None or principal_tags is not None:
            response["packedPolicySize"] = 11
    rec = {
        "userIdentity": caller,
        "eventSource": "sts.amazonaws.com",
        "eventName": api,
        "sourceIPAddress": "203.0.113.10",
        "userAgent": ua,
        "requestParameters": params,
        "responseElements": response,
        "readOnly": True,
        "eventID": eid(label),
        "resources": [{"accountId": ACCT, "type": "AWS::IAM::Role", "ARN": f"arn:aws:iam::{ACCT}:role/{role}"}],
    }
    if error:
        rec["errorCode"] = error
        rec["errorMessage"] = f"not authorized to perform: sts:{api}"
    # Global-endpoint STS calls are logged in us-east-1, whatever region the later calls use.
    return add(rec, t, "us-east-1")


def at(h, m, s=0):
    return DAY + timedelta(hours=h, minutes=m, seconds=s)


# ---- humans ----------------------------------------------------------------------------------
alice = assumed("AWSReservedSSO_Admin_0123456789abcdef", "alice@example.com", "ASIAEXAMPLEALICE0001")
bob = iam_user("bob", "AKIAEXAMPLEBOB000001")
console_ua = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
add({"userIdentity": alice, "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "eventType": "AwsConsoleSignIn",
     "sourceIPAddress": "198.51.100.7", "userAgent": console_ua, "responseElements": {"ConsoleLogin": "Success"},
     "additionalEventData": {"MFAUsed": "No", "LoginTo": "https://console.aws.amazon.com/"}, "eventID": eid("human-console")},
    at(13, 2), "us-east-1")
for i in range(40):
    t = at(13, 5 + i, rng.randint(0, 59))
    name, src = rng.choice([("DescribeInstances", "ec2.amazonaws.com"), ("ListBuckets", "s3.amazonaws.com"),
                            ("DescribeDBInstances", "rds.amazonaws.com"), ("GetCallerIdentity", "sts.amazonaws.com"),
                            ("ListFunctions20150331", "lambda.amazonaws.com")])
    call(alice, src, name, t, "eu-west-1", ua=console_ua, ip="198.51.100.7", label="human-console",
         extra={"sessionCredentialFromConsole": "true"})
for i in range(40):
    t = at(14, i, rng.randint(0, 59))
    name, src, params = rng.choice([
        ("DescribeInstances", "ec2.amazonaws.com", {"instancesSet": {}}),
        ("GetObject", "s3.amazonaws.com", {"bucketName": "team-reports", "key": f"2026/11/report-{i}.csv"}),
        ("ListObjects", "s3.amazonaws.com", {"bucketName": "team-reports"}),
        ("DescribeTable", "dynamodb.amazonaws.com", {"tableName": "orders"}),
    ])
    cat = "Data" if name == "GetObject" else "Management"
    call(bob, src, name, t, "eu-west-1", params=params, label="human-cli", category=cat)
# Bob deletes an object and a stack himself: a human deletion, not an AI one.
call(bob, "s3.amazonaws.com", "DeleteObject", at(14, 41), "eu-west-1", params={"bucketName": "team-reports", "key": "old.csv"},
     label="human-delete", category="Data")
call(bob, "cloudformation.amazonaws.com", "DeleteStack", at(14, 43), "eu-west-1", params={"stackName": "old-demo"},
     label="human-delete")

# ---- AWS-managed MCP server (aws-mcp.amazonaws.com) -----------------------------------------
carol = assumed("AWSReservedSSO_Dev_fedcba9876543210", "carol@example.com", "ASIAEXAMPLECAROL0001",
                invoked_by="aws-mcp.amazonaws.com")
mcp_ua = "mcp-proxy-for-aws/1.2.0 claude-desktop/0.14.1"
managed = [
    ("ListBuckets", "s3.amazonaws.com", {}, "call_aws"),
    ("ListObjectsV2", "s3.amazonaws.com", {"bucketName": "staging-artifacts"}, "call_aws"),
    ("DeleteObject", "s3.amazonaws.com", {"bucketName": "staging-artifacts", "key": "build-1832.zip"}, "call_aws"),
    ("DeleteObject", "s3.amazonaws.com", {"bucketName": "staging-artifacts", "key": "build-1833.zip"}, "call_aws"),
    ("DeleteBucket", "s3.amazonaws.com", {"bucketName": "staging-artifacts"}, "call_aws"),
    ("DescribeInstances", "ec2.amazonaws.com", {"instancesSet": {}}, "call_aws"),
]
for i, (name, src, params, tool) in enumerate(managed):
    t = at(15, 10 + 2 * i)
    rid = reqid()
    ro = name.startswith(("List", "Describe"))
    cat = "Data" if name in ("DeleteObject", "ListObjectsV2") else "Management"
    call(carol, src, name, t + timedelta(seconds=1), "eu-west-1", params=params, ua="aws-mcp.amazonaws.com",
         ip="aws-mcp.amazonaws.com", label="ai-managed-mcp", extra={"requestID": rid}, category=cat)
    # The MCP server's own record, linking the tool call to the downstream request id.
    add({"userIdentity": assumed("AWSReservedSSO_Dev_fedcba9876543210", "carol@example.com", "ASIAEXAMPLECAROL0001"),
         "eventSource": "aws-mcp.amazonaws.com", "eventName": "CallReadWriteTool" if not ro else "CallReadOnlyTool",
         "eventType": "AwsMcpEvent", "sourceIPAddress": "198.51.100.44", "userAgent": mcp_ua,
         "requestParameters": {"toolName": tool, "arguments": {"service": src.split(".")[0], "operation": name}},
         "additionalEventData": {"downstreamRequests": [{"requestId": rid, "eventSource": src, "eventName": name}]},
         "readOnly": ro, "eventID": eid("mcp-tool-event")}, t, "eu-west-1")

# ---- self-managed MCP server: tagged AssumeRole, calls in another region ---------------------
mcp_host = assumed("mcp-server-host", "i-0abc123def4567890", "ASIAEXAMPLEMCPHOST01", created=at(0, 0))
ai_tags = [{"key": "AccessType", "value": "AI"}, {"key": "MCPServer", "value": "s3-tools"}]
assume_role(mcp_host, "agent-prod-operator", "agent-session-42", at(16, 0), "ASIAEXAMPLEAGENT0042", tags=ai_tags, label="ai-assume")
agent = assumed("agent-prod-operator", "agent-session-42", "ASIAEXAMPLEAGENT0042", created=at(16, 0))
agent_ua = "aws-sdk-python/1.35.0 Python/3.12.6 Linux/6.8 awslabs/mcp/s3-tools/0.4.2"
agent_calls = [
    ("ListBuckets", "s3.amazonaws.com", {}),
    ("GetBucketPolicy", "s3.amazonaws.com", {"bucketName": "customer-exports"}),
    ("DeleteObject", "s3.amazonaws.com", {"bucketName": "customer-exports", "key": "2026/11/19/export.parquet"}),
    ("DeleteObjects", "s3.amazonaws.com", {"bucketName": "customer-exports", "delete": {"objects": [{"key": "a"}, {"key": "b"}]}}),
    ("TerminateInstances", "ec2.amazonaws.com", {"instancesSet": {"items": [{"instanceId": "i-0fedcba9876543210"}]}}),
    ("DeleteTable", "dynamodb.amazonaws.com", {"tableName": "sessions-cache"}),
    ("DeleteDBInstance", "rds.amazonaws.com", {"dBInstanceIdentifier": "reporting-replica", "skipFinalSnapshot": True}),
]
for i, (name, src, params) in enumerate(agent_calls):
    cat = "Data" if name in ("DeleteObject", "DeleteObjects") else "Management"
    call(agent, src, name, at(16, 3 + i), "eu-west-1", params=params, ua=agent_ua, ip="203.0.113.10", label="ai-tagged", category=cat)
for i in range(6):
    call(agent, "iam.amazonaws.com", "ListAttachedRolePolicies", at(16, 12, i * 3), "us-east-1",
         params={"roleName": f"team-role-{i}"}, ua=agent_ua, ip="203.0.113.10", error="AccessDenied", label="ai-tagged-denied")

# Role chaining: the AI session assumes another role (no tags); the child session is AI too.
# MCPServer was a transitive tag, so STS logs it as inherited; AccessType was not, so only the
# chain itself says this session is AI.
assume_role(agent, "lambda-deployer", "agent-session-42-chained", at(16, 20), "ASIAEXAMPLECHAIN0001", label="ai-chain-assume",
            transitive={"MCPServer": "s3-tools"})
child = assumed("lambda-deployer", "agent-session-42-chained", "ASIAEXAMPLECHAIN0001", created=at(16, 20))
call(child, "lambda.amazonaws.com", "ListFunctions20150331", at(16, 21), "eu-west-1", ua=agent_ua, label="ai-chained")
call(child, "lambda.amazonaws.com", "DeleteFunction20150331", at(16, 22), "eu-west-1",
     params={"functionName": "legacy-thumbnailer"}, ua=agent_ua, label="ai-chained")

# Calls a service makes with the agent's session carry no access key: matched to the AI session by
# role + session name within its lifetime (low confidence).
no_key = assumed("agent-prod-operator", "agent-session-42", "", created=at(16, 0), invoked_by="cloudformation.amazonaws.com")
call(no_key, "s3.amazonaws.com", "DeleteBucket", at(16, 30), "eu-west-1", params={"bucketName": "agent-scratch-bucket"},
     ua="cloudformation.amazonaws.com", ip="cloudformation.amazonaws.com", label="ai-session-name")

# Same role and session name, assumed by a person without tags: not AI (only the key identifies a session).
dave = iam_user("dave", "AKIAEXAMPLEDAVE00001")
assume_role(dave, "agent-prod-operator", "agent-session-42", at(17, 0), "ASIAEXAMPLEHUMAN0042", label="human-assume")
reuse = assumed("agent-prod-operator", "agent-session-42", "ASIAEXAMPLEHUMAN0042", created=at(17, 0))
call(reuse, "s3.amazonaws.com", "DeleteObject", at(17, 2), "eu-west-1",
     params={"bucketName": "customer-exports", "key": "tmp/manual-cleanup.csv"}, label="human-reused-session", category="Data")
call(reuse, "ec2.amazonaws.com", "DescribeInstances", at(17, 3), "eu-west-1", label="human-reused-session")
# A keyless call in Dave's session, after the AI session expired: not attributed to the agent.
dave_no_key = assumed("agent-prod-operator", "agent-session-42", "", created=at(17, 0), invoked_by="cloudformation.amazonaws.com")
call(dave_no_key, "s3.amazonaws.com", "CreateBucket", at(17, 30), "eu-west-1", params={"bucketName": "dave-bucket"},
     ua="cloudformation.amazonaws.com", ip="cloudformation.amazonaws.com", label="human-session-name")

# A failed AssumeRole creates no session.
assume_role(mcp_host, "prod-admin", "agent-session-43", at(17, 10), None, tags=ai_tags, error="AccessDenied", label="failed-assume")

# Web identity with principalTags as a map (another agent platform), with a session policy.
assume_role({"type": "WebIdentityUser", "principalId": "accounts.example.com:agent-runner", "userName": "agent-runner",
             "identityProvider": "accounts.example.com"},
            "agent-readonly", "runner-7", at(18, 0), "ASIAEXAMPLEWEBID0007", api="AssumeRoleWithWebIdentity",
            principal_tags={"AccessType": "AI", "MCPServer": "cost-explorer"}, label="ai-webid-assume",
            policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ce:Get*","Resource":"*"}]}')
webid = assumed("agent-readonly", "runner-7", "ASIAEXAMPLEWEBID0007", created=at(18, 0))
for i in range(3):
    call(webid, "ce.amazonaws.com", "GetCostAndUsage", at(18, 1 + i), "us-east-1", ua="aws-sdk-js/3.700.0",
         params={"granularity": "DAILY"}, label="ai-webid")

# A self-hosted AWS MCP server run by a person with plain credentials: only the user-agent marks it (low confidence).
call(bob, "cloudwatch.amazonaws.com", "GetMetricData", at(18, 30), "eu-west-1",
     ua="aws-sdk-python/1.35.0 Python/3.12.6 awslabs/mcp/cloudwatch-mcp-server/0.0.9", label="ai-ua-marker")

# ---- services and noise ------------------------------------------------------------------------
for i in range(60):
    t = at(19, i % 60, rng.randint(0, 59))
    add({"userIdentity": {"type": "AWSService", "invokedBy": "config.amazonaws.com"}, "eventSource": "ec2.amazonaws.com",
         "eventName": rng.choice(["DescribeSecurityGroups", "DescribeVpcs", "DescribeSubnets"]),
         "sourceIPAddress": "config.amazonaws.com", "userAgent": "config.amazonaws.com", "readOnly": True,
         "eventID": eid("service")}, t, "eu-west-1")
for i in range(30):
    t = at(20, i * 2, rng.randint(0, 59))
    add({"userIdentity": iam_user("ci-deployer", "AKIAEXAMPLECI0000001"), "eventSource": "ecr.amazonaws.com",
         "eventName": "GetAuthorizationToken", "sourceIPAddress": "192.0.2.50",
         "userAgent": "aws-sdk-go-v2/1.32.0 os/linux lang/go#1.23", "readOnly": True, "eventID": eid("human-ci")},
        t, "us-east-1", account=ACCT2)

# A record whose userAgent tries to rewrite the analyst's terminal.
call(bob, "s3.amazonaws.com", "ListBuckets", at(21, 0), "eu-west-1",
     ua="aws-cli/2.22.0 \u001b[2J\u001b[31mAll clear\u001b[0m", label="hostile-user-agent")


# ---- the AWS MCP Server under an AWS Sign-In OAuth grant (shapes of a published capture) --------
# Erin grants Claude Code a token for the AWS MCP endpoint; its tool call names two downstream calls
# in two Regions; the IAM one carries no request id (linked by session, API, Region and time). Her
# own `aws login` session an hour later stays human.
erin = assumed("AWSReservedSSO_Dev_0fedcba987654321", "erin@example.com", "ASIAEXAMPLEERIN00001")
mcp_session = f"arn:aws:signin:us-east-1:{ACCT}:session/0a1b2c3d-mcp"
add({"userIdentity": erin, "eventSource": "signin.amazonaws.com", "eventName": "CreateOAuth2Token",
     "sourceIPAddress": "198.51.100.61", "userAgent": "Bun/1.4.0", "readOnly": False, "eventID": eid("oauth-grant"),
     "requestParameters": {"resource": "https://aws-mcp.us-east-1.api.aws/mcp",
                           "client_id": "arn:aws:signin:us-east-1::external-client/dcr/5e6f7a8b",
                           "grant_type": "authorization_code"},
     "additionalEventData": {"signInSessionArn": mcp_session}}, at(18, 40), "us-east-1")
erin_tool = {"type": "AssumedRole", "arn": erin["arn"], "accountId": ACCT, "principalId": erin["principalId"],
             "sessionContext": {"signInSessionArn": mcp_session, "sessionIssuer": erin["sessionContext"]["sessionIssuer"]}}
erin_mcp = assumed("AWSReservedSSO_Dev_0fedcba987654321", "erin@example.com", "ASIAEXAMPLEOAUTH0001",
                   invoked_by="aws-mcp.amazonaws.com")
erin_mcp["sessionContext"]["signInSessionArn"] = mcp_session
ec2_rid = reqid()
add({"userIdentity": erin_tool, "eventSource": "aws-mcp.amazonaws.com", "eventName": "CallReadOnlyTool",
     "eventType": "AwsMcpEvent", "sourceIPAddress": "198.51.100.61", "userAgent": "claude-code/2.1.202 (cli)",
     "readOnly": True, "eventID": eid("oauth-tool-call"),
     "requestParameters": {"jsonrpc": "2.0", "method": "tools/call",
                           "params": {"name": "aws___call_aws", "arguments": {"cli_command": "aws iam list-users"}}},
     "additionalEventData": {"downstreamRequests": [
         {"apiName": "iam:ListUsers", "requestId": reqid(), "awsRegion": "us-east-1"},
         {"apiName": "ec2:DescribeInstances", "requestId": ec2_rid, "awsRegion": "eu-west-1"}]}},
    at(18, 45), "us-east-1")
lu = call(erin_mcp, "iam.amazonaws.com", "ListUsers", at(18, 45, 1), "us-east-1", ua="aws-mcp.amazonaws.com",
          ip="aws-mcp.amazonaws.com", label="oauth-downstream-no-request-id")
del lu["requestID"]
call(erin_mcp, "ec2.amazonaws.com", "DescribeInstances", at(18, 45, 2), "eu-west-1", ua="aws-mcp.amazonaws.com",
     ip="aws-mcp.amazonaws.com", label="oauth-downstream", extra={"requestID": ec2_rid})
cli_session = f"arn:aws:signin:us-east-1:{ACCT}:session/9f8e7d6c-cli"
add({"userIdentity": erin, "eventSource": "signin.amazonaws.com", "eventName": "CreateOAuth2Token",
     "sourceIPAddress": "198.51.100.61", "userAgent": "aws-cli/2.31.0", "readOnly": False, "eventID": eid("human-aws-login"),
     "requestParameters": {"client_id": "arn:aws:signin:::devtools/same-device", "grant_type": "authorization_code"},
     "additionalEventData": {"signInSessionArn": cli_session}}, at(18, 50), "us-east-1")
erin_cli = assumed("AWSReservedSSO_Dev_0fedcba987654321", "erin@example.com", "ASIAEXAMPLEERINCLI01")
erin_cli["sessionContext"]["signInSessionArn"] = cli_session
call(erin_cli, "s3.amazonaws.com", "ListBuckets", at(18, 55), "eu-west-1", ua="aws-cli/2.31.0", ip="198.51.100.61",
     label="human-aws-login")

# Ground truth by story (eventID prefix): (is_ai, ai_mechanism, mcp_server).
LABELS = {
    "human-console": (False, "", ""), "human-cli": (False, "", ""), "human-delete": (False, "", ""),
    "human-ci": (False, "", ""), "service": (False, "", ""), "hostile-user-agent": (False, "", ""),
    "human-assume": (False, "", ""), "human-reused-session": (False, "", ""), "human-session-name": (False, "", ""),
    "failed-assume": (False, "", ""), "ai-assume": (False, "", ""), "ai-webid-assume": (False, "", ""),
    "ai-managed-mcp": (True, "managed-mcp", "aws-mcp.amazonaws.com"),
    "mcp-tool-event": (True, "managed-mcp", "aws-mcp.amazonaws.com"),
    "ai-tagged": (True, "session-tag", "s3-tools"), "ai-tagged-denied": (True, "session-tag", "s3-tools"),
    "ai-chain-assume": (True, "session-tag", "s3-tools"), "ai-chained": (True, "chained", "s3-tools"),
    "ai-session-name": (True, "session-name", "s3-tools"),
    "ai-webid": (True, "session-tag", "cost-explorer"),
    "ai-ua-marker": (True, "user-agent", "cloudwatch-mcp-server"),
    "oauth-grant": (False, "", ""), "human-aws-login": (False, "", ""),
    "oauth-tool-call": (True, "managed-mcp", "aws-mcp.amazonaws.com"),
    "oauth-downstream": (True, "managed-mcp", "aws-mcp.amazonaws.com"),
    "oauth-downstream-no-request-id": (True, "managed-mcp", "aws-mcp.amazonaws.com"),
}


def write_labels():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "sample-logs.labels.csv")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rows = []
    for recs in files.values():
        for r in recs:
            story = r["eventID"].rsplit("-", 1)[0]
            is_ai, mech, server = LABELS[story]
            rows.append((r["eventID"], "true" if is_ai else "false", mech, server))
    with open(path, "w") as f:
        f.write("event_id,is_ai,ai_mechanism,mcp_server\n")
        for row in sorted(rows):
            f.write(",".join(row) + "\n")


def write(path, records, extra_bad=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    body = {"Records": records}
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    if extra_bad:
        text = text[:-2] + "," + extra_bad + "]}"
    with open(path, "wb") as f:
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as g:
            g.write(text.encode("utf-8"))


def main():
    if os.path.exists(ROOT):
        for entry in os.listdir(ROOT):
            path = os.path.join(ROOT, entry)
            if entry != "README.md":
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    first_file = None
    for (account, region, kind, hour), recs in sorted(files.items()):
        rng.shuffle(recs)  # CloudTrail does not order records within a file
        latest = max(r["eventTime"] for r in recs)
        stamp = latest[:4] + latest[5:7] + latest[8:10] + "T" + latest[11:13] + f"{int(latest[14:16]) // 5 * 5:02d}Z"
        uniq = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(16))
        # Deliveries land in the folder of the delivery day; these are all delivered on 2026-11-20.
        path = os.path.join(ROOT, "AWSLogs", account, kind, region, "2026", "11", "20",
                            f"{account}_{kind}_{region}_{stamp}_{uniq}.json.gz")
        bad = None
        if (account, region, hour) == (ACCT, "eu-west-1", 14):
            # A malformed record: its eventTime is not a timestamp. It must be rejected with a reason,
            # and every other record of the file kept.
            bad = json.dumps({"eventVersion": "1.11", "eventTime": "not-a-time", "eventSource": "s3.amazonaws.com",
                              "eventName": "GetObject", "eventID": "malformed-bad-time-0001"}, separators=(",", ":"))
        write(path, recs, bad)
        if first_file is None and account == ACCT and region == "eu-west-1" and hour == 16:
            first_file = (path, recs)
    # Duplicate delivery: the AI session's DeleteTable event delivered again in a later file.
    dup = next(r for recs in files.values() for r in recs if r["eventName"] == "DeleteTable")
    write(os.path.join(ROOT, "AWSLogs", ACCT, "CloudTrail", "eu-west-1", "2026", "11", "20",
                       f"{ACCT}_CloudTrail_eu-west-1_20261120T1630Z_redeliveredDupA1.json.gz"), [dup])
    # Digests (CloudTrail-Digest/, signed hourly, chained, with public-keys.json) are written by
    # agenttrail itself, with the committed test key, so that signing has one implementation:
    #   agenttrail synth-digests --trail sample-logs --signing-key tests/fixtures/digest-test-key.pk8
    write_labels()
    total = sum(len(r) for r in files.values())
    print(f"wrote {total} records (+1 malformed, +1 re-delivered) in {len(files) + 1} log files under {ROOT};"
          " now sign them: cargo run -q -- synth-digests --trail sample-logs --signing-key tests/fixtures/digest-test-key.pk8",
          file=sys.stderr)


if __name__ == "__main__":
    main()
