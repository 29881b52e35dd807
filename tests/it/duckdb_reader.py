"""Read an agenttrail lake's `events` Delta table with DuckDB's delta extension: an engine that
is not delta-rs. Prints one JSON object: rows, distinct dedup_key, a SHA-256 over the sorted
(dedup_key, event_time, event_name) triples, and the column types DuckDB sees.

Usage: duckdb_reader.py <events table: folder or s3://bucket/prefix/events> [s3 endpoint URL]
The extensions are loaded from the duckdb-ext-* wheels (no download). S3 credentials come from
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; the endpoint is only ever the given loopback URL.
"""
import hashlib
import json
import os
import sys

import duckdb
import duckdb_ext

table = sys.argv[1]
endpoint = sys.argv[2] if len(sys.argv) > 2 else None
ext_dir = os.path.join(list(duckdb_ext.__path__)[0], "extensions")
con = duckdb.connect()
con.execute("SET extension_directory = ?", [ext_dir])
con.execute("SET autoinstall_known_extensions = false")
con.execute("SET autoload_known_extensions = false")
con.execute("LOAD httpfs")
con.execute("LOAD delta")
if endpoint:
    host = endpoint.split("://", 1)[1].rstrip("/")
    assert host.startswith("127.0.0.1:"), "tests reach loopback only"
    con.execute(
        "CREATE SECRET lake (TYPE s3, KEY_ID ?, SECRET ?, REGION 'us-east-1', ENDPOINT ?, "
        "URL_STYLE 'path', USE_SSL false)",
        [os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], host],
    )
rows, distinct = con.execute(
    "SELECT count(*), count(DISTINCT dedup_key) FROM delta_scan(?)", [table]
).fetchone()
h = hashlib.sha256()
for key, time, name in con.execute(
    "SELECT dedup_key, epoch_us(event_time), event_name FROM delta_scan(?) ORDER BY 1", [table]
).fetchall():
    h.update(f"{key}\t{time}\t{name}\n".encode())
types = {
    r[0]: r[1]
    for r in con.execute("DESCRIBE SELECT * FROM delta_scan(?)", [table]).fetchall()
}
print(json.dumps({"rows": rows, "distinct": distinct, "sha256": h.hexdigest(), "types": types}))
