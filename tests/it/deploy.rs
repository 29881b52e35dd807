//! The one-command deployment (deploy/agenttrail.template.json) and the job's JSON logs.
//!
//! The template's task command and environment are rendered from the template itself (its
//! `Ref`, `Fn::Sub`, `Fn::If` and `Fn::GetAtt` resolved with test parameters) and run exactly
//! as written against moto (S3 + CloudWatch) through a recording proxy; the IAM actions those
//! requests need must equal the task role's, and every request must fall inside one of the
//! role's statements (resource and `s3:prefix` condition included). cfn-lint, checkov and
//! hadolint run on the same files in scripts/test.sh.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::fault_proxy::FaultProxy;
use crate::util::{agenttrail, repo, run, sample_logs, stderr, stdout};

fn committed_template() -> Value {
    let text = std::fs::read_to_string(repo().join("deploy/agenttrail.template.json"))
        .expect("deploy/agenttrail.template.json");
    serde_json::from_str(&text).expect("the template is JSON")
}

#[test]
fn the_committed_template_is_what_deploy_template_prints_for_the_repository_alarms() {
    let out = run(agenttrail()
        .current_dir(repo())
        .args(["deploy", "template"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let path = repo().join("deploy/agenttrail.template.json");
    if std::env::var("AGENTTRAIL_UPDATE_EXPECTED").is_ok_and(|v| v == "1") {
        std::fs::write(&path, stdout(&out)).unwrap();
    }
    assert_eq!(
        stdout(&out),
        std::fs::read_to_string(&path).unwrap(),
        "deploy/agenttrail.template.json is stale: run `agenttrail deploy template > deploy/agenttrail.template.json` (or AGENTTRAIL_UPDATE_EXPECTED=1)"
    );
    // Every alarm of alarms/ is in the stack, watching the stack's namespace.
    let t = committed_template();
    let alarm_names: BTreeSet<String> = t["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .map(|r| r["Properties"]["AlarmName"].as_str().unwrap().to_string())
        .collect();
    let files: BTreeSet<String> = std::fs::read_dir(repo().join("alarms"))
        .unwrap()
        .map(|e| {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            let v: toml::Value = toml::from_str(&text).unwrap();
            v["name"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(alarm_names, files);
}

/// A tiny CloudFormation evaluator: enough intrinsic functions for this template.
struct Render<'a> {
    params: &'a BTreeMap<&'static str, String>,
    conditions: &'a Value,
}

impl Render<'_> {
    fn reference(&self, name: &str) -> Option<Value> {
        if name == "AWS::NoValue" {
            return None;
        }
        Some(match self.params.get(name) {
            Some(v) => json!(v),
            // A resource: its physical id, named after the logical one.
            None => json!(format!("physical-{name}")),
        })
    }

    fn sub(&self, text: &str, vars: &serde_json::Map<String, Value>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("closed ${") + start;
            let name = &rest[start + 2..end];
            let value = match vars.get(name) {
                Some(v) => self.eval(v),
                None => self.reference(name),
            };
            out.push_str(value.as_ref().and_then(Value::as_str).unwrap_or_else(|| {
                panic!("cannot substitute ${{{name}}} in {text}");
            }));
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn condition(&self, v: &Value) -> bool {
        if let Some(name) = v.as_str() {
            return self.condition(&self.conditions[name]);
        }
        if let Some(args) = v.get("Fn::Equals") {
            return self.eval(&args[0]) == self.eval(&args[1]);
        }
        if let Some(args) = v.get("Fn::Not") {
            return !self.condition(&args[0]);
        }
        panic!("unsupported condition {v}");
    }

    /// The value, or None for `AWS::NoValue`.
    fn eval(&self, v: &Value) -> Option<Value> {
        match v {
            Value::Object(m) if m.len() == 1 => {
                let (k, arg) = m.iter().next().unwrap();
                match k.as_str() {
                    "Ref" => self.reference(arg.as_str().unwrap()),
                    "Fn::Sub" => Some(json!(match arg {
                        Value::String(s) => self.sub(s, &serde_json::Map::new()),
                        Value::Array(a) =>
                            self.sub(a[0].as_str().unwrap(), a[1].as_object().unwrap()),
                        _ => panic!("bad Fn::Sub {arg}"),
                    })),
                    "Fn::If" => {
                        let branch = if self.condition(&arg[0]) {
                            &arg[1]
                        } else {
                            &arg[2]
                        };
                        self.eval(branch)
                    }
                    "Fn::GetAtt" => Some(json!(format!(
                        "arn:aws:test:::{}/{}",
                        arg[0].as_str().unwrap(),
                        arg[1].as_str().unwrap()
                    ))),
                    _ => Some(Value::Object(self.eval_map(m))),
                }
            }
            Value::Object(m) => Some(Value::Object(self.eval_map(m))),
            Value::Array(a) => Some(Value::Array(
                a.iter().filter_map(|x| self.eval(x)).collect(),
            )),
            other => Some(other.clone()),
        }
    }

    fn eval_map(&self, m: &serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
        m.iter()
            .filter_map(|(k, v)| Some((k.clone(), self.eval(v)?)))
            .collect()
    }
}

fn as_strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
        _ => panic!("expected a string or a list: {v}"),
    }
}

/// Is the S3 request `identity` allowed by one of `statements`?
fn allowed(identity: &str, action: &str, statements: &[Value]) -> bool {
    let target = identity.split(' ').nth(1).unwrap();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = path.trim_start_matches('/');
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    let arn = if key.is_empty() {
        format!("arn:aws:s3:::{bucket}")
    } else {
        format!("arn:aws:s3:::{bucket}/{key}")
    };
    let prefix = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("prefix="))
        .map(|p| p.replace("%2F", "/"))
        .unwrap_or_default();
    statements.iter().any(|s| {
        as_strings(&s["Action"]).iter().any(|a| a == action)
            && as_strings(&s["Resource"])
                .iter()
                .any(|r| wildmatch::WildMatch::new(r).matches(&arn))
            && match s["Condition"]["StringLike"]["s3:prefix"].as_str() {
                Some(pattern) => wildmatch::WildMatch::new(pattern).matches(&prefix),
                None => true,
            }
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scheduled_task_runs_as_rendered_and_needs_exactly_the_task_roles_permissions() {
    let s3 = crate::s3::client();
    let (trail, lake_bucket) = (
        crate::s3::unique("deploy-trail"),
        crate::s3::unique("deploy-lake"),
    );
    // The trail as CloudTrail delivers it, digests signed for this bucket; the task has no key
    // file, so it asks CloudTrail for the keys (moto does not serve ListPublicKeys: the digests
    // stay key-unknown, which is what a task without that permission would report).
    crate::s3::upload_signed_sample(&s3, &trail).await;
    s3.create_bucket()
        .bucket(lake_bucket.as_str())
        .send()
        .await
        .unwrap();
    let namespace = format!("AgentTrailDeploy{}", std::process::id());
    let params: BTreeMap<&'static str, String> = [
        ("TrailBucket", trail.clone()),
        ("TrailPrefix", String::new()),
        ("LakeBucket", lake_bucket.clone()),
        ("LakePrefix", "agenttrail".into()),
        ("Namespace", namespace.clone()),
        ("KmsKeyArn", String::new()),
        ("AlarmTopicArn", String::new()),
        ("ImageUri", "agenttrail:test".into()),
        ("AWS::Region", "us-east-1".into()),
        ("AWS::AccountId", "123456789012".into()),
        ("AWS::Partition", "aws".into()),
        ("AWS::StackName", "agenttrail".into()),
    ]
    .into();
    let t = committed_template();
    let render = Render {
        params: &params,
        conditions: &t["Conditions"],
    };
    let task = render
        .eval(&t["Resources"]["TaskDefinition"]["Properties"])
        .unwrap();
    let container = &task["ContainerDefinitions"][0];
    let command = as_strings(&container["Command"]);
    assert_eq!(command[0], "run");
    assert!(command.iter().any(|a| a == "--publish"), "{command:?}");
    // The task's scratch volume is mounted at /scratch; here it is a temporary folder.
    let scratch = tempfile::tempdir().unwrap();
    let mount = container["MountPoints"][0]["ContainerPath"]
        .as_str()
        .unwrap();
    let env: Vec<(String, String)> = container["Environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let value = e["Value"].as_str().unwrap();
            let value = match value.strip_prefix(mount) {
                Some(rest) => format!("{}{rest}", scratch.path().display()),
                None => value.to_string(),
            };
            (e["Name"].as_str().unwrap().to_string(), value)
        })
        .collect();

    let proxy = FaultProxy::start(&crate::s3::endpoint(), |_, _| None);
    // The image's working folder holds queries/ and alarms/, as the repository does.
    let out = run(agenttrail()
        .current_dir(repo())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AGENTTRAIL_NOW", crate::publish::SAMPLE_NOW)
        .args(&command));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Logs: JSON lines, one run id, and the summary record.
    let lines: Vec<Value> = stderr(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let run_ids: BTreeSet<&str> = lines
        .iter()
        .map(|l| l["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(run_ids.len(), 1, "{run_ids:?}");
    let summary = lines
        .iter()
        .find(|l| l["target"] == "agenttrail::summary")
        .expect("a summary record");
    let s = &summary["fields"]["summary"];
    assert_eq!(s["objects"]["read"], 14, "{s}");
    assert_eq!(s["metrics"]["published"], true, "{s}");
    assert!(s["findings"]["ai_deletions"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["integrity"]["digests_checked"], 16, "{s}");
    assert_eq!(s["integrity"]["problems"]["key-unknown"], 16, "{s}");
    assert_eq!(s["integrity"]["metrics"]["DigestsInvalid"], 16, "{s}");

    // Metrics arrived, per bucket, as the sample day's stories say.
    let cw = crate::publish::client();
    assert_eq!(
        crate::publish::maxima(&cw, &namespace, "ai_deletions").await,
        crate::publish::sample_day_maxima()
    );

    // Least privilege: the actions used equal the task role's, each request inside a statement.
    let role = render
        .eval(&t["Resources"]["TaskRole"]["Properties"])
        .unwrap();
    let statements = role["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .clone();
    let role_actions: BTreeSet<String> = statements
        .iter()
        .flat_map(|s| as_strings(&s["Action"]))
        .collect();
    let buckets = [trail.as_str(), lake_bucket.as_str()];
    let identities = proxy.identities();
    let used: BTreeSet<String> = identities
        .iter()
        .map(|id| crate::privilege::action(id, &buckets))
        .collect();
    assert_eq!(used, role_actions);
    for id in identities.iter().filter(|id| !id.contains("PutMetricData")) {
        let action = crate::privilege::action(id, &buckets);
        assert!(
            allowed(id, &action, &statements),
            "{id} ({action}) is outside the task role"
        );
    }
    let publish = statements
        .iter()
        .find(|s| s["Action"] == "cloudwatch:PutMetricData")
        .unwrap();
    assert_eq!(
        publish["Condition"]["StringEquals"]["cloudwatch:namespace"],
        namespace.as_str()
    );

    // The trail is listed once per run: the digest check reuses ingest's listing.
    let trail_lists: u32 = identities
        .iter()
        .filter(|id| {
            crate::privilege::action(id, &buckets) == "s3:ListBucket"
                && id.contains(&format!("/{trail}"))
        })
        .map(|id| proxy.count(id))
        .sum();
    assert_eq!(trail_lists, 1, "{identities:?}");

    // The lease was taken and given back.
    let lease = s3
        .get_object()
        .bucket(lake_bucket.as_str())
        .key("agenttrail/_lease.json")
        .send()
        .await
        .unwrap();
    let lease: Value =
        serde_json::from_slice(&lease.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(lease["released"], true, "{lease}");
    assert_eq!(lease["run_id"], *run_ids.iter().next().unwrap());
}

async fn put_lease(bucket: &str, expires: chrono::DateTime<chrono::Utc>, released: bool) {
    let body = json!({
        "run_id": "20261201T000000Z-deadbeef",
        "host": "ip-10-0-0-1",
        "acquired": (expires - chrono::Duration::minutes(30)).to_rfc3339(),
        "expires": expires.to_rfc3339(),
        "released": released,
    });
    crate::s3::client()
        .put_object()
        .bucket(bucket)
        .key("agenttrail/_lease.json")
        .body(serde_json::to_vec(&body).unwrap().into())
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn one_scheduled_run_at_a_time_publishes_from_an_s3_lake() {
    let s3 = crate::s3::client();
    let bucket = crate::s3::unique("lease-lake");
    s3.create_bucket()
        .bucket(bucket.as_str())
        .send()
        .await
        .unwrap();
    let lake = format!("s3://{bucket}/agenttrail");
    let cache = tempfile::tempdir().unwrap();
    let job = || {
        run(crate::publish::with_aws(&mut agenttrail())
            .env("AWS_ENDPOINT_URL", crate::s3::endpoint())
            .env("AGENTTRAIL_CACHE_DIR", cache.path())
            .args(["-q", "run", "--source"])
            .arg(sample_logs())
            .args(["--lake", &lake]))
    };

    // A live lease of another run: this one refuses, names the holder, writes nothing.
    put_lease(
        &bucket,
        chrono::Utc::now() + chrono::Duration::minutes(20),
        false,
    )
    .await;
    let out = job();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("held by run 20261201T000000Z-deadbeef on ip-10-0-0-1"),
        "{}",
        stderr(&out)
    );
    let listed = s3
        .list_objects_v2()
        .bucket(bucket.as_str())
        .prefix("agenttrail/ingested/")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(0));

    // Its holder died: once the lease has expired, the next run takes it over and finishes.
    put_lease(
        &bucket,
        chrono::Utc::now() - chrono::Duration::minutes(1),
        false,
    )
    .await;
    let out = job();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Released: the following run starts at once.
    let out = job();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Two runs racing for a free lease: S3's conditional write lets exactly one win.
    let key = "agenttrail/_race.json";
    let (a, b) = tokio::join!(
        agenttrail::sink::lease::acquire(&s3, &bucket, key),
        agenttrail::sink::lease::acquire(&s3, &bucket, key)
    );
    assert!(
        a.is_ok() != b.is_ok(),
        "exactly one winner: {:?} / {:?}",
        a.as_ref().err(),
        b.as_ref().err()
    );
    let winner = a.or(b).unwrap();
    let again = agenttrail::sink::lease::acquire(&s3, &bucket, key).await;
    assert!(matches!(
        again,
        Err(agenttrail::sink::SinkError::Leased { .. })
    ));
    winner.release().await.unwrap();
    let after = agenttrail::sink::lease::acquire(&s3, &bucket, key).await;
    assert!(after.is_ok(), "{:?}", after.err());
}

#[test]
fn json_logs_are_one_object_per_line_with_the_run_summary_and_text_stays_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let out = run(agenttrail()
        .current_dir(repo())
        .env("AGENTTRAIL_LOG_FORMAT", "json")
        .args(["run", "--source"])
        .arg(sample_logs())
        .arg("--lake")
        .arg(&lake));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Results stay on stdout, as text.
    assert!(stdout(&out).contains("== ai_deletions (high)"));
    let lines: Vec<Value> = stderr(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for l in &lines {
        for k in [
            "timestamp",
            "level",
            "target",
            "message",
            "run_id",
            "fields",
        ] {
            assert!(l.get(k).is_some(), "{k} missing in {l}");
        }
    }
    let ingest = lines
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .unwrap()
                .starts_with("agenttrail ingest: objects: 14 read")
        })
        .expect("the ingest status line as a record");
    assert_eq!(ingest["level"], "INFO");
    let summary = &lines
        .iter()
        .find(|l| l["target"] == "agenttrail::summary")
        .expect("summary record")["fields"];
    assert_eq!(summary["command"], "run");
    let s = &summary["summary"];
    assert_eq!(s["objects"]["read"], 14);
    assert_eq!(s["objects"]["failed"], 0);
    assert!(s["records"]["ingested"].as_u64().unwrap() > 100, "{s}");
    assert!(s["records"]["rejected"].as_u64().unwrap() >= 1, "{s}");
    assert!(s["records"]["duplicate"].as_u64().is_some(), "{s}");
    let findings = s["findings"].as_object().unwrap();
    assert_eq!(
        findings.len(),
        std::fs::read_dir(repo().join("queries")).unwrap().count()
    );
    assert_eq!(s["metrics"]["published"], false);
    assert!(s["metrics"]["datums"].as_u64().unwrap() > 0);
    assert!(s["seconds"].as_f64().is_some());
    assert_eq!(s["exit_status"], 0);

    // A fatal error is a JSON record too.
    let out = run(agenttrail()
        .args(["--log-format", "json", "query", "--lake"])
        .arg(dir.path().join("nowhere"))
        .arg("SELECT 1"));
    assert_eq!(out.status.code(), Some(2));
    let err: Value = serde_json::from_str(stderr(&out).trim()).expect("one JSON line");
    assert_eq!(err["level"], "ERROR");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("not an agenttrail lake")
    );

    // Text stays the default: the same lines as always, no JSON.
    let out = run(agenttrail()
        .current_dir(repo())
        .args(["ingest", "--source"])
        .arg(sample_logs())
        .arg("--lake")
        .arg(&lake));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("agenttrail ingest: objects: 0 read, 48 skipped")),
        "{text}"
    );
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<Value>(l).is_err()),
        "{text}"
    );
}
