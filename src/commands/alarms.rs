//! `agenttrail alarms plan|apply|export`.

use std::collections::BTreeMap;

use crate::cli::{AlarmsArgs, AlarmsCommand};
use crate::exit::ExitStatus;
use crate::publish::alarms::{Change, cloudformation, describe, diff, fill, load, put};

/// Run an alarms subcommand.
pub async fn run(cmd: AlarmsCommand) -> anyhow::Result<ExitStatus> {
    match cmd {
        AlarmsCommand::Export(a) => {
            let alarms = load(&a.alarms)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&cloudformation(&alarms, &a.namespace))?
            );
            Ok(ExitStatus::Success)
        }
        AlarmsCommand::Plan(a) => plan_or_apply(a, false).await,
        AlarmsCommand::Apply(a) => plan_or_apply(a, true).await,
    }
}

async fn plan_or_apply(a: AlarmsArgs, apply: bool) -> anyhow::Result<ExitStatus> {
    let alarms = load(&a.alarms)?;
    let params: BTreeMap<String, String> = a.params.into_iter().collect();
    let client = crate::publish::client().await;
    let names: Vec<String> = alarms.iter().map(|f| f.spec.name.clone()).collect();
    let existing = describe(&client, &names).await?;
    let (mut created, mut updated, mut unchanged) = (0, 0, 0);
    for f in &alarms {
        let s = &f.spec;
        let actions = fill(&s.alarm_actions, &params)
            .map_err(|e| anyhow::anyhow!("{}: {e}", f.path.display()))?;
        let ok = fill(&s.ok_actions, &params)
            .map_err(|e| anyhow::anyhow!("{}: {e}", f.path.display()))?;
        let change = diff(s, &a.namespace, &actions, &ok, existing.get(&s.name));
        match &change {
            Change::Create => {
                println!("create    {}", s.name);
                created += 1;
            }
            Change::Update(fields) => {
                println!("update    {} ({})", s.name, fields.join(", "));
                updated += 1;
            }
            Change::Unchanged => {
                println!("unchanged {}", s.name);
                unchanged += 1;
            }
        }
        if apply && change != Change::Unchanged {
            put(&client, s, &a.namespace, actions, ok).await?;
        }
    }
    let verb = if apply { "applied" } else { "plan" };
    crate::logging::status(&format!(
        "agenttrail alarms {verb}: {created} to create, {updated} to update, {unchanged} unchanged"
    ));
    Ok(ExitStatus::Success)
}
