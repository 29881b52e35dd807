"""The DuckDB baseline of scripts/bench.sh: what an analyst would otherwise run.

  bench_duckdb.py ingest-fast DATA_DIR OUT.parquet
                                                DuckDB's own way, at its fastest: read_json with
                                                its inferred schema, unnest(Records) into columns,
                                                COPY to zstd Parquet; prints the row count
  bench_duckdb.py ingest DATA_DIR OUT.parquet   read every *.json.gz under DATA_DIR, unnest
                                                Records, flatten the columns agenttrail keeps
                                                (->> on JSON[]), sort by time, COPY to zstd
                                                Parquet; prints the row count (the slow variant,
                                                whose flat columns the detections query)
  bench_duckdb.py detect OUT.parquet            ai_deletions over that Parquet: managed MCP
                                                (invokedBy) or a session whose access key comes
                                                from an AccessType=AI tagged AssumeRole, or from a
                                                chain of AssumeRoles starting at one; prints the
                                                count
  bench_duckdb.py suite OUT.parquet             the detection suite's questions in DuckDB SQL
                                                over that Parquet, with the same three AI
                                                mechanisms; prints the findings per detection

Threads: DuckDB's default (all cores), as an analyst would run it.
"""

import json
import sys

import duckdb

DELETES = """(event_name LIKE 'Delete%' OR event_name IN ('TerminateInstances',
  'ScheduleKeyDeletion', 'PurgeQueue', 'DeregisterImage', 'DisableKey', 'RemovePermission'))"""


def ingest(data_dir: str, out: str) -> None:
    con = duckdb.connect()
    files = f"{data_dir}/**/*.json.gz"
    con.execute(
        f"""
        COPY (
          SELECT
            r->>'eventID' AS event_id,
            CAST(r->>'eventTime' AS TIMESTAMP) AS event_time,
            r->>'eventVersion' AS event_version,
            r->>'eventSource' AS event_source,
            r->>'eventName' AS event_name,
            r->>'eventType' AS event_type,
            r->>'awsRegion' AS aws_region,
            r->>'sourceIPAddress' AS source_ip_address,
            r->>'userAgent' AS user_agent,
            r->>'errorCode' AS error_code,
            r->>'errorMessage' AS error_message,
            r->>'requestID' AS request_id,
            r->>'recipientAccountId' AS recipient_account_id,
            CAST(r->>'readOnly' AS BOOLEAN) AS read_only,
            r->'userIdentity'->>'type' AS identity_type,
            r->'userIdentity'->>'arn' AS identity_arn,
            r->'userIdentity'->>'principalId' AS principal_id,
            r->'userIdentity'->>'accountId' AS identity_account_id,
            r->'userIdentity'->>'accessKeyId' AS access_key_id,
            r->'userIdentity'->>'invokedBy' AS invoked_by,
            r->'userIdentity'->>'sourceIdentity' AS source_identity,
            r->'userIdentity'->'sessionContext'->'sessionIssuer'->>'arn' AS session_issuer_arn,
            r->'requestParameters' AS request_parameters,
            r->'responseElements' AS response_elements,
            r->'additionalEventData' AS additional_event_data,
            r->'resources' AS resources,
            r->'tlsDetails' AS tls_details
          FROM (
            SELECT unnest(Records) AS r
            FROM read_json('{files}', columns = {{Records: 'JSON[]'}},
                           format = 'auto', maximum_object_size = 268435456)
          )
          ORDER BY event_time
        ) TO '{out}' (FORMAT parquet, COMPRESSION zstd)
        """
    )
    n = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]
    print(json.dumps({"rows": n}))


def ingest_fast(data_dir: str, out: str) -> None:
    con = duckdb.connect()
    files = f"{data_dir}/**/*.json.gz"
    con.execute(
        f"""
        COPY (
          SELECT unnest(r)
          FROM (
            SELECT unnest(Records) AS r
            FROM read_json('{files}', format = 'auto', maximum_object_size = 268435456)
          )
        ) TO '{out}' (FORMAT parquet, COMPRESSION zstd)
        """
    )
    n = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0]
    print(json.dumps({"rows": n}))


def detect(parquet: str) -> None:
    con = duckdb.connect()
    n = con.execute(
        f"""
        WITH RECURSIVE ev AS (SELECT * FROM read_parquet('{parquet}')),
        sts AS (
          SELECT
            access_key_id AS caller_key,
            response_elements->'credentials'->>'accessKeyId' AS new_key,
            len(list_filter(
              from_json(request_parameters->'tags', '[{{"key":"VARCHAR","value":"VARCHAR"}}]'),
              lambda t: t.key = 'AccessType' AND t.value = 'AI')) > 0 AS tagged
          FROM ev
          WHERE event_source = 'sts.amazonaws.com' AND event_name LIKE 'AssumeRole%'
            AND error_code IS NULL
        ),
        ai_keys(k) AS (
          SELECT new_key FROM sts WHERE tagged AND new_key IS NOT NULL
          UNION
          SELECT s.new_key FROM sts s JOIN ai_keys a ON s.caller_key = a.k
          WHERE s.new_key IS NOT NULL
        ),
        dedup AS (SELECT DISTINCT ON (event_id) * FROM ev)
        SELECT count(*) FROM dedup e
        WHERE error_code IS NULL AND {DELETES}
          AND (invoked_by LIKE '%-mcp.amazonaws.com'
               OR event_source LIKE '%-mcp.amazonaws.com'
               OR access_key_id IN (SELECT k FROM ai_keys))
        """
    ).fetchone()[0]
    print(json.dumps({"ai_deletions": n}))


IAM_CHANGES = """('AttachRolePolicy', 'AttachUserPolicy', 'AttachGroupPolicy',
  'DetachRolePolicy', 'DetachUserPolicy', 'DetachGroupPolicy', 'PutRolePolicy', 'PutUserPolicy',
  'PutGroupPolicy', 'DeleteRolePolicy', 'DeleteUserPolicy', 'DeleteGroupPolicy',
  'CreatePolicyVersion', 'SetDefaultPolicyVersion', 'UpdateAssumeRolePolicy', 'CreateRole',
  'CreateUser', 'CreateAccessKey', 'UpdateAccessKey', 'CreateLoginProfile', 'UpdateLoginProfile',
  'AddUserToGroup', 'DeleteRolePermissionsBoundary', 'DeleteUserPermissionsBoundary',
  'PutRolePermissionsBoundary', 'PutUserPermissionsBoundary')"""
LOGGING = """('StopLogging', 'DeleteTrail', 'UpdateTrail', 'PutEventSelectors',
  'PutInsightSelectors', 'DeleteFlowLogs', 'DeleteDetector', 'UpdateDetector',
  'DisassociateFromMasterAccount', 'DisassociateFromAdministratorAccount', 'StopMonitoringMembers',
  'StopConfigurationRecorder', 'DeleteConfigurationRecorder', 'DeleteDeliveryChannel',
  'DeleteLogGroup')"""
DENIED = """('AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation',
  'Client.UnauthorizedOperation')"""


def suite(parquet: str) -> None:
    """The questions of queries/*.sql (log_integrity aside: the generated data has no digests),
    as a skilled DuckDB user would run them: the small derived tables (STS sessions, AI access
    keys, the de-duplicated AI events) materialised once, then one query per detection."""
    con = duckdb.connect()
    con.execute(f"CREATE VIEW ev AS SELECT * FROM read_parquet('{parquet}')")
    con.execute(
        """
        CREATE TEMP TABLE sts AS
        SELECT event_id, event_time AS issued_at, recipient_account_id, event_name AS api,
               identity_arn AS caller_arn, access_key_id AS caller_key,
               request_parameters->>'roleArn' AS role_arn,
               response_elements->'credentials'->>'accessKeyId' AS new_key,
               ((request_parameters->'policy') IS NOT NULL
                OR coalesce(json_array_length(request_parameters->'policyArns'), 0) > 0)
                 AS has_policy,
               len(list_filter(
                 from_json(request_parameters->'tags', '[{"key":"VARCHAR","value":"VARCHAR"}]'),
                 lambda t: t.key = 'AccessType' AND t.value = 'AI')) > 0 AS tagged
        FROM (SELECT DISTINCT ON (event_id) * FROM ev
              WHERE event_source = 'sts.amazonaws.com' AND event_name LIKE 'AssumeRole%'
                AND error_code IS NULL)
        WHERE (response_elements->'credentials'->>'accessKeyId') IS NOT NULL
        """
    )
    con.execute(
        """
        CREATE TEMP TABLE ai_keys AS
        WITH RECURSIVE k(key) AS (
          SELECT new_key FROM sts WHERE tagged
          UNION
          SELECT s.new_key FROM sts s JOIN k ON s.caller_key = k.key
        ) SELECT key FROM k
        """
    )
    con.execute(
        """
        CREATE TEMP TABLE ai AS
        SELECT * FROM (SELECT DISTINCT ON (event_id) * FROM ev) e
        WHERE invoked_by LIKE '%-mcp.amazonaws.com' OR event_source LIKE '%-mcp.amazonaws.com'
           OR access_key_id IN (SELECT key FROM ai_keys)
        """
    )
    q = {
        "ai_deletions": f"SELECT event_id FROM ai WHERE error_code IS NULL AND {DELETES}",
        "ai_iam_changes": f"""SELECT event_id, request_parameters->>'roleName' FROM ai
            WHERE error_code IS NULL AND event_source = 'iam.amazonaws.com'
              AND event_name IN {IAM_CHANGES}""",
        "ai_logging_tampering": f"""SELECT event_id FROM ai
            WHERE error_code IS NULL AND event_name IN {LOGGING}""",
        "ai_access_denied_burst": f"""SELECT coalesce(access_key_id, identity_arn),
              time_bucket(INTERVAL '5 minutes', event_time), count(*)
            FROM ai WHERE error_code IN {DENIED} GROUP BY ALL HAVING count(*) >= 5""",
        "unapproved_mcp_server": """SELECT invoked_by, coalesce(access_key_id, identity_arn),
              time_bucket(INTERVAL '1 hour', event_time), count(*)
            FROM ai WHERE invoked_by LIKE '%-mcp.amazonaws.com'
              AND invoked_by NOT IN ('aws-mcp.amazonaws.com') GROUP BY ALL""",
        "ai_session_without_session_policy": """SELECT s.event_id FROM sts s
            JOIN ai_keys k ON s.new_key = k.key WHERE NOT s.has_policy""",
        "ai_tags_from_unexpected_caller": """SELECT event_id FROM sts
            WHERE tagged AND caller_key NOT IN (SELECT key FROM ai_keys)
              AND caller_arn NOT LIKE '%:role/aws-mcp%'""",
        "mcp_bypass": """WITH marked AS (
              SELECT DISTINCT s.role_arn FROM sts s JOIN ai_keys k ON s.new_key = k.key
              WHERE s.role_arn IS NOT NULL)
            SELECT e.event_id FROM (SELECT DISTINCT ON (event_id) * FROM ev) e
            JOIN marked m ON e.session_issuer_arn = m.role_arn
            WHERE e.identity_type = 'AssumedRole'
              AND e.access_key_id NOT IN (SELECT key FROM ai_keys)
              AND coalesce(e.invoked_by, '') NOT LIKE '%-mcp.amazonaws.com'""",
        "ai_first_seen_api": """WITH h AS (
              SELECT event_id, event_time,
                lag(event_time) OVER (PARTITION BY coalesce(session_issuer_arn, identity_arn),
                  event_source, event_name ORDER BY event_time, event_id) AS prev,
                min(event_time) OVER (PARTITION BY coalesce(session_issuer_arn, identity_arn)
                  ORDER BY event_time RANGE BETWEEN INTERVAL 14 DAYS PRECEDING AND CURRENT ROW)
                  AS base
              FROM ai WHERE event_name IS NOT NULL)
            SELECT event_id FROM h
            WHERE (prev IS NULL OR prev < event_time - INTERVAL 14 DAYS)
              AND base <= event_time - INTERVAL 1 DAY""",
    }
    out = {name: len(con.execute(sql).fetchall()) for name, sql in q.items()}
    print(json.dumps(out))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "ingest":
        ingest(sys.argv[2], sys.argv[3])
    elif cmd == "ingest-fast":
        ingest_fast(sys.argv[2], sys.argv[3])
    elif cmd == "detect":
        detect(sys.argv[2])
    elif cmd == "suite":
        suite(sys.argv[2])
    else:
        sys.exit(f"unknown command {cmd!r}")
