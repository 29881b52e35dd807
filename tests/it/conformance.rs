//! The whole conformance corpus (2,225 published records) through the real ingest path.

use agenttrail::ingest::{IngestOptions, NoProgress, ingest};
use agenttrail::sink::Lake;
use agenttrail::source::Source;

use crate::util::{conformance, query, scalar};

#[tokio::test(flavor = "multi_thread")]
async fn every_conformance_record_is_ingested_or_rejected_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::create(dir.path()).unwrap();
    let source = Source::Local {
        root: conformance(),
    };
    let s = ingest(&source, &lake, &IngestOptions::default(), &NoProgress)
        .await
        .unwrap();

    assert!(s.objects_failed.is_empty(), "{:?}", s.objects_failed);
    assert_eq!(
        s.objects_read, 445,
        "the corpus README lists 445 gzip files"
    );
    // Every record lands somewhere: kept, rejected, or a repeat of an eventID already kept.
    assert_eq!(
        s.records_ingested + s.records_rejected + s.records_duplicate,
        2225
    );
    assert_eq!(s.records_rejected, 147);

    let lake_path = dir.path();
    let reasons = query(
        lake_path,
        "SELECT reason, count(*) FROM rejects GROUP BY 1 ORDER BY 1",
    )
    .await;
    assert_eq!(
        reasons,
        vec![
            vec!["invalid-event-time".to_string(), "25".to_string()],
            vec!["missing-event-time".to_string(), "122".to_string()],
        ]
    );
    // Rejected records keep their text, so nothing is lost.
    assert_eq!(
        scalar(lake_path, "SELECT count(*) FROM rejects WHERE raw IS NULL").await,
        "0"
    );
    assert_eq!(
        scalar(lake_path, "SELECT count(*) FROM events_all").await,
        s.records_ingested.to_string()
    );
    assert_eq!(
        scalar(lake_path, "SELECT count(*) FROM events").await,
        scalar(
            lake_path,
            "SELECT count(DISTINCT dedup_key) FROM events_all"
        )
        .await
    );
    // Shapes the corpus is known for read as typed values.
    // Records with a null or missing userIdentity are kept, with null identity columns.
    assert_ne!(
        scalar(
            lake_path,
            "SELECT count(*) FROM events WHERE user_identity IS NULL"
        )
        .await,
        "0"
    );
    assert_eq!(
        scalar(
            lake_path,
            "SELECT count(*) FROM events WHERE user_identity IS NULL AND identity_type IS NOT NULL"
        )
        .await,
        "0"
    );
    // "True" as a string reads as a boolean.
    assert_ne!(
        scalar(lake_path, "SELECT count(*) FROM events WHERE read_only").await,
        "0"
    );
    let insight = scalar(
        lake_path,
        "SELECT count(*) FROM events WHERE insight_details IS NOT NULL",
    )
    .await;
    assert_ne!(insight, "0", "Insights records are kept");
}
