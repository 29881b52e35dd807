//! Alarms as code: `alarms/*.toml`, one alarm per file, in the shape of PutMetricAlarm.
//!
//! `plan` compares each definition with what DescribeAlarms returns and says create / update /
//! unchanged; `apply` calls PutMetricAlarm only for the first two, so re-applying is a no-op.
//! Actions may name parameters as `${Name}`, filled from `--param Name=value` (and emitted as
//! CloudFormation parameters by `export`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm, Statistic};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::PublishError;

/// One alarm definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmSpec {
    /// Alarm name (unique in the account and region).
    pub name: String,
    /// What the alarm means and what to do.
    pub description: String,
    /// Metric name (in the configured namespace).
    pub metric: String,
    /// Metric dimensions.
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    /// `Maximum`, `Sum`, `SampleCount`, `Average` or `Minimum`.
    pub statistic: String,
    /// Period in seconds.
    pub period: i32,
    /// Periods evaluated.
    pub evaluation_periods: i32,
    /// Breaching periods needed (default: all evaluated).
    #[serde(default)]
    pub datapoints_to_alarm: Option<i32>,
    /// Threshold.
    pub threshold: f64,
    /// E.g. `GreaterThanOrEqualToThreshold`.
    pub comparison: String,
    /// `breaching`, `notBreaching`, `ignore` or `missing`.
    pub treat_missing_data: String,
    /// Actions on ALARM (may use `${Param}`).
    #[serde(default)]
    pub alarm_actions: Vec<String>,
    /// Actions on OK.
    #[serde(default)]
    pub ok_actions: Vec<String>,
}

/// A definition with where it came from.
#[derive(Debug, Clone)]
pub struct AlarmFile {
    /// The file.
    pub path: PathBuf,
    /// Its content.
    pub spec: AlarmSpec,
}

/// Load `dir/*.toml`, sorted by name; names must be unique.
pub fn load(dir: &Path) -> Result<Vec<AlarmFile>, PublishError> {
    let aerr = |p: &Path, m: String| PublishError::Alarm {
        path: p.display().to_string(),
        message: m,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)
        .map_err(|e| aerr(dir, e.to_string()))?
        .flatten()
    {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| aerr(&path, e.to_string()))?;
        let spec: AlarmSpec = toml::from_str(&text).map_err(|e| aerr(&path, e.to_string()))?;
        if !Statistic::values().contains(&spec.statistic.as_str()) {
            return Err(aerr(
                &path,
                format!("unknown statistic {:?}", spec.statistic),
            ));
        }
        if !ComparisonOperator::values().contains(&spec.comparison.as_str()) {
            return Err(aerr(
                &path,
                format!("unknown comparison {:?}", spec.comparison),
            ));
        }
        out.push(AlarmFile { path, spec });
    }
    out.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
    for w in out.windows(2) {
        if w[0].spec.name == w[1].spec.name {
            return Err(aerr(
                &w[1].path,
                format!(
                    "alarm name {:?} is also used by {}",
                    w[1].spec.name,
                    w[0].path.display()
                ),
            ));
        }
    }
    Ok(out)
}

/// Replace `${Name}` with parameter values.
pub fn fill(actions: &[String], params: &BTreeMap<String, String>) -> Result<Vec<String>, String> {
    actions
        .iter()
        .map(|a| {
            let mut s = a.clone();
            while let Some(start) = s.find("${") {
                let end = s[start..]
                    .find('}')
                    .ok_or_else(|| format!("unclosed parameter in {a:?}"))?
                    + start;
                let name = &s[start + 2..end];
                let v = params.get(name).ok_or_else(|| {
                    format!("parameter {name} is not set (use --param {name}=...)")
                })?;
                s.replace_range(start..=end, v);
            }
            Ok(s)
        })
        .collect()
}

/// What `plan` decided for one alarm.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Not in CloudWatch yet.
    Create,
    /// Differs in these fields.
    Update(Vec<&'static str>),
    /// Identical.
    Unchanged,
}

/// Compare a definition (actions filled) with an existing alarm.
pub fn diff(
    spec: &AlarmSpec,
    namespace: &str,
    actions: &[String],
    ok: &[String],
    existing: Option<&MetricAlarm>,
) -> Change {
    let Some(e) = existing else {
        return Change::Create;
    };
    let mut fields = Vec::new();
    let dims: BTreeMap<String, String> = e
        .dimensions()
        .iter()
        .map(|d| {
            (
                d.name().unwrap_or_default().to_string(),
                d.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    let checks: [(&'static str, bool); 12] = [
        (
            "description",
            e.alarm_description() == Some(spec.description.as_str()),
        ),
        ("namespace", e.namespace() == Some(namespace)),
        ("metric", e.metric_name() == Some(spec.metric.as_str())),
        ("dimensions", dims == spec.dimensions),
        (
            "statistic",
            e.statistic().map(|s| s.as_str()) == Some(spec.statistic.as_str()),
        ),
        ("period", e.period() == Some(spec.period)),
        (
            "evaluation_periods",
            e.evaluation_periods() == Some(spec.evaluation_periods),
        ),
        (
            "datapoints_to_alarm",
            e.datapoints_to_alarm().or(Some(spec.evaluation_periods))
                == spec.datapoints_to_alarm.or(Some(spec.evaluation_periods)),
        ),
        ("threshold", e.threshold() == Some(spec.threshold)),
        (
            "comparison",
            e.comparison_operator().map(|c| c.as_str()) == Some(spec.comparison.as_str()),
        ),
        (
            "treat_missing_data",
            e.treat_missing_data() == Some(spec.treat_missing_data.as_str()),
        ),
        (
            "actions",
            sorted(e.alarm_actions()) == sorted(actions) && sorted(e.ok_actions()) == sorted(ok),
        ),
    ];
    for (name, same) in checks {
        if !same {
            fields.push(name);
        }
    }
    if fields.is_empty() {
        Change::Unchanged
    } else {
        Change::Update(fields)
    }
}

/// Existing alarms with these names.
pub async fn describe(
    client: &aws_sdk_cloudwatch::Client,
    names: &[String],
) -> Result<BTreeMap<String, MetricAlarm>, PublishError> {
    let mut out = BTreeMap::new();
    for chunk in names.chunks(100) {
        let resp = client
            .describe_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| PublishError::Api {
                operation: "DescribeAlarms",
                message: crate::source::error_chain(&e),
            })?;
        for a in resp.metric_alarms() {
            if let Some(n) = a.alarm_name() {
                out.insert(n.to_string(), a.clone());
            }
        }
    }
    Ok(out)
}

/// PutMetricAlarm for one definition.
pub async fn put(
    client: &aws_sdk_cloudwatch::Client,
    spec: &AlarmSpec,
    namespace: &str,
    actions: Vec<String>,
    ok: Vec<String>,
) -> Result<(), PublishError> {
    client
        .put_metric_alarm()
        .alarm_name(&spec.name)
        .alarm_description(&spec.description)
        .namespace(namespace)
        .metric_name(&spec.metric)
        .set_dimensions(Some(
            spec.dimensions
                .iter()
                .map(|(k, v)| Dimension::builder().name(k).value(v).build())
                .collect(),
        ))
        .statistic(Statistic::from(spec.statistic.as_str()))
        .period(spec.period)
        .evaluation_periods(spec.evaluation_periods)
        .set_datapoints_to_alarm(spec.datapoints_to_alarm)
        .threshold(spec.threshold)
        .comparison_operator(ComparisonOperator::from(spec.comparison.as_str()))
        .treat_missing_data(&spec.treat_missing_data)
        .set_alarm_actions(Some(actions))
        .set_ok_actions(Some(ok))
        .send()
        .await
        .map_err(|e| PublishError::Api {
            operation: "PutMetricAlarm",
            message: crate::source::error_chain(&e),
        })?;
    Ok(())
}

/// A CloudFormation template (JSON) for the same alarms; `${Param}` become template parameters.
pub fn cloudformation(alarms: &[AlarmFile], namespace: &str) -> serde_json::Value {
    let mut params = serde_json::Map::new();
    let mut resources = serde_json::Map::new();
    let action = |a: &str,
                  params: &mut serde_json::Map<String, serde_json::Value>|
     -> serde_json::Value {
        if a.contains("${") {
            let mut rest = a;
            while let Some(start) = rest.find("${") {
                let Some(end) = rest[start..].find('}') else {
                    break;
                };
                let name = &rest[start + 2..start + end];
                params.insert(name.to_string(), json!({"Type": "String", "Description": format!("Value for ${{{name}}} in alarm actions")}));
                rest = &rest[start + end + 1..];
            }
            json!({"Fn::Sub": a})
        } else {
            json!(a)
        }
    };
    for f in alarms {
        let s = &f.spec;
        let logical: String = s
            .name
            .split(|c: char| !c.is_ascii_alphanumeric())
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        let mut props = json!({
            "AlarmName": s.name,
            "AlarmDescription": s.description,
            "Namespace": namespace,
            "MetricName": s.metric,
            "Dimensions": s.dimensions.iter().map(|(k, v)| json!({"Name": k, "Value": v})).collect::<Vec<_>>(),
            "Statistic": s.statistic,
            "Period": s.period,
            "EvaluationPeriods": s.evaluation_periods,
            "Threshold": s.threshold,
            "ComparisonOperator": s.comparison,
            "TreatMissingData": s.treat_missing_data,
            "AlarmActions": s.alarm_actions.iter().map(|a| action(a, &mut params)).collect::<Vec<_>>(),
            "OKActions": s.ok_actions.iter().map(|a| action(a, &mut params)).collect::<Vec<_>>(),
        });
        if let Some(d) = s.datapoints_to_alarm {
            props["DatapointsToAlarm"] = json!(d);
        }
        resources.insert(
            format!("{logical}Alarm"),
            json!({"Type": "AWS::CloudWatch::Alarm", "Properties": props}),
        );
    }
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "agenttrail alarms (generated by `agenttrail alarms export`)",
        "Parameters": params,
        "Resources": resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_filled_or_named_when_missing() {
        let params: BTreeMap<String, String> =
            [("Topic".to_string(), "arn:aws:sns:us-east-1:1:t".to_string())].into();
        assert_eq!(
            fill(&["${Topic}".into()], &params).unwrap(),
            vec!["arn:aws:sns:us-east-1:1:t"]
        );
        assert_eq!(
            fill(&["x-${Topic}-y".into()], &params).unwrap(),
            vec!["x-arn:aws:sns:us-east-1:1:t-y"]
        );
        let e = fill(&["${Other}".into()], &params).unwrap_err();
        assert!(e.contains("--param Other="), "{e}");
    }

    #[test]
    fn the_repository_alarms_load() {
        let alarms = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("alarms")).unwrap();
        assert!(alarms.len() >= 4);
        let t = cloudformation(&alarms, "AgentTrail");
        assert_eq!(t["Resources"].as_object().unwrap().len(), alarms.len());
    }
}
