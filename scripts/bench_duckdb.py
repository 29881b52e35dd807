"""The DuckDB baseline of scripts/bench.sh: what an analyst would otherwise run.

  bench_duckdb.py ingest DATA_DIR OUT.parquet   read every *.json.gz under DATA_DIR, unnest
                                                Records, flatten the columns agenttrail keeps,
                                                COPY to zstd Parquet; prints the row count
  bench_duckdb.py detect OUT.parquet            ai_deletions over that Parquet: managed MCP
                                                (invokedBy) or a session whose access key comes
                                                from an AccessType=AI tagged AssumeRole, or from a
                                                chain of AssumeRoles starting at one; prints the
                                                count

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


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "ingest":
        ingest(sys.argv[2], sys.argv[3])
    elif cmd == "detect":
        detect(sys.argv[2])
    else:
        sys.exit(f"unknown command {cmd!r}")
