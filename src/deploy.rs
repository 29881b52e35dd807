//! The one-command deployment: a CloudFormation template for the scheduled job.
//!
//! The infrastructure (schedule, Fargate task, roles, log group, topic) is `deploy/stack.json`
//! beside this file; the alarms come from `alarms/`, the same definitions `alarms apply` and
//! `alarms export` use, so the deployed alarms never drift from the ones the tests check. The
//! repository's `deploy/agenttrail.template.json` is this function's output for the repository's
//! `alarms/` (a test keeps it so); a user with their own alarms runs `agenttrail deploy template`.
//!
//! In the deployed stack the alarms watch the `Namespace` parameter (the task publishes there)
//! and notify either the given `AlarmTopicArn` or the topic the stack creates when it is empty.

use serde_json::{Value, json};

use crate::publish::alarms::{AlarmFile, cloudformation};

const STACK: &str = include_str!("deploy/stack.json");

/// The whole template: the stack plus one `AWS::CloudWatch::Alarm` per alarm file.
pub fn template(alarms: &[AlarmFile]) -> Value {
    let mut t: Value = serde_json::from_str(STACK).expect("deploy/stack.json is valid JSON");
    let exported = cloudformation(alarms, "");
    let topic = json!({"Fn::If": ["CreateTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]});
    let resources = t["Resources"]
        .as_object_mut()
        .expect("the stack has Resources");
    if let Some(Value::Object(alarm_resources)) = exported.get("Resources") {
        for (name, resource) in alarm_resources {
            let mut resource = resource.clone();
            let props = &mut resource["Properties"];
            props["Namespace"] = json!({"Ref": "Namespace"});
            for key in ["AlarmActions", "OKActions"] {
                if let Some(actions) = props[key].as_array_mut() {
                    for a in actions.iter_mut() {
                        // `${AlarmTopicArn}` (the only parameter alarms/ uses) becomes the stack's
                        // topic; any other `${Param}` stays a template parameter below.
                        if let Some(text) = a.get("Fn::Sub").and_then(Value::as_str) {
                            *a = json!({"Fn::Sub": [text, {"AlarmTopicArn": topic.clone()}]});
                        }
                    }
                }
            }
            resources.insert(name.clone(), resource);
        }
    }
    if let (Some(Value::Object(params)), Some(Value::Object(extra))) =
        (t.get_mut("Parameters"), exported.get("Parameters"))
    {
        for (name, p) in extra {
            params.entry(name.clone()).or_insert_with(|| p.clone());
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alarm_watches_the_stack_namespace_and_notifies_its_topic() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("alarms");
        let alarms = crate::publish::alarms::load(&dir).unwrap();
        let t = template(&alarms);
        let found: Vec<&Value> = t["Resources"]
            .as_object()
            .unwrap()
            .values()
            .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
            .collect();
        assert_eq!(found.len(), alarms.len());
        for a in found {
            assert_eq!(a["Properties"]["Namespace"], json!({"Ref": "Namespace"}));
            let action = &a["Properties"]["AlarmActions"][0]["Fn::Sub"];
            assert_eq!(action[0], "${AlarmTopicArn}");
            assert_eq!(action[1]["AlarmTopicArn"]["Fn::If"][0], "CreateTopic");
        }
        // The stack's own parameter, not a second one from the alarms.
        assert_eq!(t["Parameters"]["AlarmTopicArn"]["Default"], "");
    }
}
