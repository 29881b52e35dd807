//! `lake export-ddl`: what a user runs in another engine to attach the lake's Delta tables.
//!
//! Every engine below reads the schema from the Delta log itself, so the statements name only the
//! tables and their locations: the lake can gain columns without the DDL going stale. Types are
//! ones every engine reads (strings, booleans, `bigint`, `date`, `timestamp`; no unsigned
//! integers).

use super::{Lake, SinkError, TABLES, delta::Location};

/// Engines `export-ddl` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// Amazon Athena (engine v3) through a Glue database: `CREATE EXTERNAL TABLE … 'DELTA'`.
    Athena,
    /// Trino's Delta Lake connector: `register_table`.
    Trino,
    /// DuckDB with its `delta` extension: views over `delta_scan`.
    Duckdb,
    /// Spark with delta-spark: `CREATE TABLE … USING DELTA LOCATION`.
    Spark,
}

/// A SQL string literal (single quotes doubled).
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The statements attaching every table of `lake` in `engine`, in database/schema `database`.
pub fn export(lake: &Lake, engine: Engine, database: &str) -> Result<String, SinkError> {
    if !database
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        || database.is_empty()
    {
        return Err(SinkError::Write {
            path: database.to_string(),
            message: "a database name is letters, digits and underscores".into(),
        });
    }
    let location = |table: &str| -> Result<String, SinkError> {
        let url = lake.table_url(table)?;
        Ok(match lake.location() {
            Location::Local(_) => url
                .to_file_path()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|()| url.to_string())
                .trim_end_matches('/')
                .to_string(),
            Location::S3 { .. } => url.to_string().trim_end_matches('/').to_string(),
        })
    };
    if engine == Engine::Athena && matches!(lake.location(), Location::Local(_)) {
        return Err(SinkError::Write {
            path: lake.describe(),
            message: "Athena reads lakes on S3 only; give --lake s3://bucket/prefix".into(),
        });
    }
    let mut out = String::new();
    let header = format!(
        "-- agenttrail lake {} as Delta tables ({} of them), for {:?}.\n",
        lake.describe(),
        TABLES.len(),
        engine
    );
    out.push_str(&header.replace('\n', " ").replace("\r", " "));
    out.push('\n');
    match engine {
        Engine::Athena => {
            out.push_str(&format!("CREATE DATABASE IF NOT EXISTS {database};\n"));
            for t in TABLES {
                out.push_str(&format!(
                    "CREATE EXTERNAL TABLE IF NOT EXISTS {database}.{t}\nLOCATION {}\nTBLPROPERTIES ('table_type' = 'DELTA');\n",
                    lit(&format!("{}/", location(t)?))
                ));
            }
        }
        Engine::Trino => {
            out.push_str(&format!("CREATE SCHEMA IF NOT EXISTS delta.{database};\n"));
            for t in TABLES {
                out.push_str(&format!(
                    "CALL delta.system.register_table(schema_name => {}, table_name => {}, table_location => {});\n",
                    lit(database),
                    lit(t),
                    lit(&location(t)?)
                ));
            }
        }
        Engine::Duckdb => {
            out.push_str("INSTALL delta;\nLOAD delta;\n");
            if matches!(lake.location(), Location::S3 { .. }) {
                out.push_str(
                    "INSTALL httpfs;\nLOAD httpfs;\nCREATE SECRET IF NOT EXISTS agenttrail_s3 (TYPE s3, PROVIDER credential_chain);\n",
                );
            }
            out.push_str(&format!("CREATE SCHEMA IF NOT EXISTS {database};\n"));
            for t in TABLES {
                out.push_str(&format!(
                    "CREATE OR REPLACE VIEW {database}.{t} AS SELECT * FROM delta_scan({});\n",
                    lit(&location(t)?)
                ));
            }
        }
        Engine::Spark => {
            out.push_str(&format!("CREATE DATABASE IF NOT EXISTS {database};\n"));
            for t in TABLES {
                let loc = location(t)?;
                let loc = if matches!(lake.location(), Location::S3 { .. }) {
                    loc.replacen("s3://", "s3a://", 1)
                } else {
                    loc
                };
                out.push_str(&format!(
                    "CREATE TABLE IF NOT EXISTS {database}.{t} USING DELTA LOCATION {};\n",
                    lit(&loc)
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn athena_gets_one_delta_table_per_lake_table_and_quotes_are_escaped() {
        let lake = Lake {
            location: Location::S3 {
                bucket: "lake-bucket".into(),
                prefix: "it's/agenttrail".into(),
            },
            options: Default::default(),
            remote: None,
            pinned: None,
            stored: Default::default(),
        };
        let ddl = export(&lake, Engine::Athena, "agenttrail").unwrap();
        assert_eq!(
            ddl.matches("TBLPROPERTIES ('table_type' = 'DELTA')")
                .count(),
            TABLES.len()
        );
        assert!(ddl.contains("CREATE EXTERNAL TABLE IF NOT EXISTS agenttrail.events\nLOCATION 's3://lake-bucket/it''s/agenttrail/events/'"), "{ddl}");
        assert!(export(&lake, Engine::Athena, "x; DROP").is_err());
        let local = Lake::open(std::path::Path::new("/tmp/lake"));
        assert!(export(&local, Engine::Athena, "agenttrail").is_err());
        let duck = export(&local, Engine::Duckdb, "agenttrail").unwrap();
        assert!(duck.contains("CREATE OR REPLACE VIEW agenttrail.events AS SELECT * FROM delta_scan('/tmp/lake/events');"), "{duck}");
    }
}
