//! `agenttrail verify`, and the public keys an integrity check needs.

use anyhow::Context;

use crate::cli::VerifyArgs;
use crate::exit::ExitStatus;
use crate::integrity::{Report, Status, check};
use crate::render::write_batches;
use crate::sink::Lake;
use crate::source::{KeyFilter, Source};

/// The integrity part of a summary record.
pub fn report_json(r: &Report) -> serde_json::Value {
    serde_json::json!({
        "digests_checked": r.digests_checked,
        "digests_settled": r.digests_settled,
        "files_fetched": r.files_fetched,
        "problems": r.problems(),
        "metrics": r.metric_counts().into_iter().collect::<std::collections::BTreeMap<_, _>>(),
    })
}

/// `agenttrail verify`.
pub async fn run(args: VerifyArgs) -> anyhow::Result<ExitStatus> {
    let source = Source::open(&args.source, crate::aws::s3_client).await?;
    let lake = match &args.lake {
        Some(uri) => Some(
            Lake::resolve(uri)
                .await
                .with_context(|| format!("cannot open the lake {uri}"))?,
        ),
        None => None,
    };
    let lease = match lake.as_ref().and_then(|l| l.remote()) {
        Some(remote) => Some(remote.lease().await?),
        None => None,
    };
    let result = verify(&args, &source, lake.as_ref()).await;
    if let Some(lease) = lease {
        lease.release().await?;
    }
    result
}

async fn verify(
    args: &VerifyArgs,
    source: &Source,
    lake: Option<&Lake>,
) -> anyhow::Result<ExitStatus> {
    let filter = KeyFilter {
        accounts: args.account.clone(),
        regions: args.region.clone(),
        since: args.since,
        until: args.until,
    };
    let keys = check::public_keys(args.public_keys.as_deref(), source, lake).await?;
    let report = check::check(source, lake, &filter, &keys, None, chrono::Utc::now()).await?;
    let shown: Vec<crate::integrity::Row> = report
        .rows
        .iter()
        .filter(|r| args.all || r.status != Status::Valid)
        .cloned()
        .collect();
    let batch = crate::integrity::rows_batch(&shown, chrono::Utc::now());
    let mut out = std::io::stdout().lock();
    write_batches(&mut out, &batch.schema(), &[batch], args.format)?;
    crate::logging::status(&format!("agenttrail verify: {}", report.line()));
    crate::logging::summary("verify", &report_json(&report));
    let problems = report.rows.iter().any(|r| r.status != Status::Valid);
    Ok(if problems && args.fail_on_problems {
        ExitStatus::Findings
    } else {
        ExitStatus::Success
    })
}
