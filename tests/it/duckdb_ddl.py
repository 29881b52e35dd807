"""Run what `agenttrail lake export-ddl --engine duckdb` printed (stdin) in DuckDB, as a user
would, then count the rows of each view named on the command line; print them as JSON.
Extensions come from the duckdb-ext-* wheels: the script's INSTALL finds them installed and
downloads nothing."""
import json
import os
import sys

import duckdb
import duckdb_ext

con = duckdb.connect()
con.execute("SET extension_directory = ?", [os.path.join(list(duckdb_ext.__path__)[0], "extensions")])
con.execute("SET autoinstall_known_extensions = false")
con.execute("SET autoload_known_extensions = false")
for statement in sys.stdin.read().split(";\n"):
    if statement.strip():
        con.execute(statement)
print(json.dumps({t: con.execute(f"SELECT count(*) FROM agenttrail.{t}").fetchone()[0] for t in sys.argv[1:]}))
