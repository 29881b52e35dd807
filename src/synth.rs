//! A generator of realistic CloudTrail with ground truth, for tests and benchmarks.
//!
//! `agenttrail synth --events N --out DIR` writes a day of CloudTrail in the delivered layout
//! (`DIR/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz`, records shuffled within each
//! file, ~1–2 KB each) and `DIR/labels.csv` with the expected `is_ai`, `ai_mechanism` and
//! `mcp_server` of every event. The mix covers every mechanism: people (console, CLI), AWS
//! services, the AWS-managed MCP server with its `AwsMcpEvent` records, self-managed MCP servers'
//! tagged sessions (STS in us-east-1, calls elsewhere), role chains, calls without an access key,
//! user-agent markers, and people reusing an agent's role and session name.
//!
//! The PRNG is a fixed SplitMix64 so a seed reproduces the same files on every platform and
//! version.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use rayon::prelude::*;
use serde_json::{Value, json};

/// SplitMix64: tiny, fast, and stable forever (unlike a crate's default algorithm).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b"0123456789ABCDEF"[self.below(16) as usize]))
            .collect()
    }
}

/// Options for [`generate`].
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Approximate number of events (the result is within a few of it).
    pub events: u64,
    /// Seed.
    pub seed: u64,
    /// The day the events happen on.
    pub day: NaiveDate,
    /// Records per file at most.
    pub records_per_file: usize,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            events: 10_000,
            seed: 42,
            day: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap_or_default(),
            records_per_file: 2_000,
        }
    }
}

/// What was written.
#[derive(Debug, Default, Clone)]
pub struct SynthSummary {
    /// Events written.
    pub events: u64,
    /// Files written.
    pub files: u64,
    /// Compressed bytes.
    pub bytes: u64,
    /// Events by expected mechanism (`human` for none).
    pub by_mechanism: BTreeMap<String, u64>,
}

struct Label {
    id: String,
    mechanism: &'static str,
    server: String,
}

struct Out {
    records: Vec<(String, String, DateTime<Utc>, Value)>,
    labels: Vec<Label>,
}

const ACCOUNTS: &[&str] = &["111122223333", "444455556666", "777788889999"];
const REGIONS: &[&str] = &["us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2"];
const READS: &[(&str, &str)] = &[
    ("s3.amazonaws.com", "GetObject"),
    ("s3.amazonaws.com", "ListObjects"),
    ("ec2.amazonaws.com", "DescribeInstances"),
    ("dynamodb.amazonaws.com", "DescribeTable"),
    ("lambda.amazonaws.com", "ListFunctions20150331"),
    ("iam.amazonaws.com", "ListRoles"),
    ("rds.amazonaws.com", "DescribeDBInstances"),
];
const WRITES: &[(&str, &str)] = &[
    ("s3.amazonaws.com", "PutObject"),
    ("s3.amazonaws.com", "DeleteObject"),
    ("ec2.amazonaws.com", "TerminateInstances"),
    ("dynamodb.amazonaws.com", "DeleteTable"),
    ("lambda.amazonaws.com", "DeleteFunction20150331"),
    ("iam.amazonaws.com", "AttachRolePolicy"),
    ("cloudformation.amazonaws.com", "DeleteStack"),
];

impl Out {
    /// Turn the record just added into a successful STS `AssumeRole` returning `resp`.
    fn make_last_assume_role(&mut self, resp: Value) {
        if let Some(last) = self.records.last_mut() {
            last.3["eventSource"] = json!("sts.amazonaws.com");
            last.3["eventName"] = json!("AssumeRole");
            last.3["responseElements"] = resp;
            last.3["readOnly"] = json!(true);
            strip_error(&mut last.3);
        }
    }

    /// Turn the record just added into an AWS Sign-In `CreateOAuth2Token` grant.
    fn make_last_signin_grant(&mut self, params: Value, signin_session_arn: &str) {
        if let Some(last) = self.records.last_mut() {
            last.3["eventSource"] = json!("signin.amazonaws.com");
            last.3["eventName"] = json!("CreateOAuth2Token");
            last.3["requestParameters"] = params;
            last.3["additionalEventData"] = json!({"signInSessionArn": signin_session_arn});
            last.3["eventCategory"] = json!("Management");
            last.3["managementEvent"] = json!(true);
            last.3["readOnly"] = json!(false);
            strip_error(&mut last.3);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        rng: &mut Rng,
        id: String,
        t: DateTime<Utc>,
        account: &str,
        region: &str,
        identity: Value,
        ua: &str,
        ip: &str,
        label: (&'static str, &str),
        extra: Option<(&str, Value)>,
    ) -> String {
        let (source, name) = if rng.below(5) == 0 {
            *rng.pick(WRITES)
        } else {
            *rng.pick(READS)
        };
        let request_id = rng.hex(16);
        let mut rec = json!({
            "eventVersion": "1.11",
            "userIdentity": identity,
            "eventTime": t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": ip,
            "userAgent": ua,
            "requestParameters": {
                "bucketName": format!("bucket-{}", rng.below(50)),
                "key": format!("data/{}/{}.parquet", rng.below(1000), rng.hex(12)),
                "Host": format!("bucket.s3.{region}.amazonaws.com"),
            },
            "responseElements": null,
            "additionalEventData": {
                "SignatureVersion": "SigV4",
                "CipherSuite": "TLS_AES_128_GCM_SHA256",
                "bytesTransferredIn": rng.below(4096),
                "AuthenticationMethod": "AuthHeader",
                "x-amz-id-2": rng.hex(60),
            },
            "requestID": request_id,
            "eventID": id,
            "readOnly": !WRITES.iter().any(|w| w.1 == name),
            "resources": [{"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::bucket/{}", rng.hex(20))}],
            "eventType": "AwsApiCall",
            "managementEvent": source != "s3.amazonaws.com",
            "recipientAccountId": account,
            "eventCategory": if source == "s3.amazonaws.com" { "Data" } else { "Management" },
            "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                           "clientProvidedHostHeader": format!("{source}")},
        });
        if rng.below(40) == 0 {
            rec["errorCode"] = json!("AccessDenied");
            rec["errorMessage"] = json!("User is not authorized to perform this action");
        }
        if let Some((k, v)) = extra {
            rec[k] = v;
        }
        let eid = rec["eventID"].as_str().unwrap_or_default().to_string();
        self.labels.push(Label {
            id: eid.clone(),
            mechanism: label.0,
            server: label.1.to_string(),
        });
        self.records
            .push((account.to_string(), region.to_string(), t, rec));
        request_id
    }
}

fn assumed(account: &str, role: &str, session: &str, key: &str, invoked_by: Option<&str>) -> Value {
    let mut v = json!({
        "type": "AssumedRole",
        "principalId": format!("AROA{}:{session}", role.len()),
        "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
        "accountId": account,
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": format!("AROA{}", role.len()),
                              "arn": format!("arn:aws:iam::{account}:role/{role}"), "accountId": account, "userName": role},
            "attributes": {"creationDate": "2026-11-20T00:00:00Z", "mfaAuthenticated": "false"}
        }
    });
    if let Some(i) = invoked_by {
        v["invokedBy"] = json!(i);
    }
    v
}

fn strip_error(rec: &mut Value) {
    if let Some(o) = rec.as_object_mut() {
        o.remove("errorCode");
        o.remove("errorMessage");
    }
}

fn sts_expiry(t: DateTime<Utc>) -> String {
    (t + Duration::hours(1))
        .format("%b %d, %Y, %-I:%M:%S %p")
        .to_string()
}

/// Generate the data set into `dir`.
pub fn generate(dir: &Path, opts: &SynthOptions) -> std::io::Result<SynthSummary> {
    let mut rng = Rng(opts.seed);
    let mut out = Out {
        records: Vec::new(),
        labels: Vec::new(),
    };
    let start = Utc.from_utc_datetime(&opts.day.and_hms_opt(0, 0, 0).unwrap_or_default());
    // Event ids and the agents' access keys carry the seed, so days generated with different
    // seeds can share a lake (the benchmark's 5M events are five such days) without colliding.
    let mut n: u64 = 0;
    let seed = opts.seed;
    let mut next_id = || {
        n += 1;
        format!("synth-{seed}-{n:010}")
    };
    let tag = seed % 1000;
    let total = opts.events;
    let mut session_no = 0u64;
    while (out.records.len() as u64) < total {
        let t = start + Duration::seconds(rng.below(86_000) as i64);
        let account = *rng.pick(ACCOUNTS);
        let region = *rng.pick(REGIONS);
        match rng.below(100) {
            // People with long-term keys and the console.
            0..=49 => {
                let user = format!("user-{}", rng.below(40));
                let ident = json!({"type": "IAMUser", "principalId": format!("AIDA{}", user.len()),
                    "arn": format!("arn:aws:iam::{account}:user/{user}"), "accountId": account,
                    "accessKeyId": format!("AKIA{:016}", rng.below(40)), "userName": user});
                let ua = if rng.below(2) == 0 {
                    "aws-cli/2.22.0 Python/3.12.6 Linux/6.8"
                } else {
                    "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"
                };
                out.call(
                    &mut rng,
                    next_id(),
                    t,
                    account,
                    region,
                    ident,
                    ua,
                    "198.51.100.23",
                    ("", ""),
                    None,
                );
            }
            // AWS services.
            50..=59 => {
                let ident = json!({"type": "AWSService", "invokedBy": "config.amazonaws.com"});
                out.call(
                    &mut rng,
                    next_id(),
                    t,
                    account,
                    region,
                    ident,
                    "config.amazonaws.com",
                    "config.amazonaws.com",
                    ("", ""),
                    None,
                );
            }
            // The AWS MCP Server under an AWS Sign-In OAuth grant: the person's grant, a tool call
            // and its downstream calls (one of them without a request id, as a published capture
            // shows); now and then the same person's `aws login` grant and a call of their own.
            60..=62 => {
                let person = format!("dev{}@example.com", rng.below(20));
                let human = assumed(
                    account,
                    "AWSReservedSSO_Dev",
                    &person,
                    &format!("ASIASSO{:013}", rng.below(1000)),
                    None,
                );
                let signin = format!("arn:aws:signin:us-east-1:{account}:session/{}", rng.hex(12));
                let grant = json!({"resource": "https://aws-mcp.us-east-1.api.aws/mcp",
                    "client_id": format!("arn:aws:signin:us-east-1::external-client/dcr/{}", rng.hex(8)),
                    "grant_type": "authorization_code"});
                out.call(
                    &mut rng,
                    next_id(),
                    t,
                    account,
                    "us-east-1",
                    human.clone(),
                    "Bun/1.4.0",
                    "198.51.100.44",
                    ("", ""),
                    None,
                );
                out.make_last_signin_grant(grant, &signin);
                let key = format!("ASIAOAU{:013}", rng.below(1000));
                let mut ident = assumed(
                    account,
                    "AWSReservedSSO_Dev",
                    &person,
                    &key,
                    Some("aws-mcp.amazonaws.com"),
                );
                ident["sessionContext"]["signInSessionArn"] = json!(signin);
                let mut downstream = Vec::new();
                for i in 0..(1 + rng.below(3)) {
                    let rid = out.call(
                        &mut rng,
                        next_id(),
                        t + Duration::seconds(61 + i as i64),
                        account,
                        region,
                        ident.clone(),
                        "aws-mcp.amazonaws.com",
                        "aws-mcp.amazonaws.com",
                        ("managed-mcp", "aws-mcp.amazonaws.com"),
                        None,
                    );
                    if let Some(last) = out.records.last_mut() {
                        let source = last.3["eventSource"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string();
                        let name = last.3["eventName"].as_str().unwrap_or_default().to_string();
                        let prefix = source.split('.').next().unwrap_or_default().to_string();
                        downstream.push(json!({"apiName": format!("{prefix}:{name}"), "requestId": rid, "awsRegion": region}));
                        if i == 0 {
                            // The capture's shape: the downstream record carries no request id.
                            if let Some(m) = last.3.as_object_mut() {
                                m.remove("requestID");
                            }
                        }
                    }
                }
                let mut tool_ident = assumed(account, "AWSReservedSSO_Dev", &person, "", None);
                if let Some(m) = tool_ident.as_object_mut() {
                    m.remove("accessKeyId");
                }
                tool_ident["sessionContext"]["signInSessionArn"] = json!(signin);
                out.call(
                    &mut rng,
                    next_id(),
                    t + Duration::seconds(60),
                    account,
                    region,
                    tool_ident,
                    "claude-code/2.1.202 (cli)",
                    "198.51.100.44",
                    ("managed-mcp", "aws-mcp.amazonaws.com"),
                    Some(("eventSource", json!("aws-mcp.amazonaws.com"))),
                );
                if let Some(last) = out.records.last_mut() {
                    last.3["eventType"] = json!("AwsMcpEvent");
                    last.3["eventName"] = json!("CallReadWriteTool");
                    last.3["requestParameters"] = json!({"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "aws___call_aws"}});
                    last.3["additionalEventData"] = json!({"downstreamRequests": downstream});
                    strip_error(&mut last.3);
                }
                if rng.below(3) == 0 {
                    // `aws login`: a sign-in session that is not an agent's.
                    let cli = format!("arn:aws:signin:us-east-1:{account}:session/{}", rng.hex(12));
                    out.call(
                        &mut rng,
                        next_id(),
                        t + Duration::seconds(120),
                        account,
                        "us-east-1",
                        human.clone(),
                        "aws-cli/2.31.0",
                        "198.51.100.44",
                        ("", ""),
                        None,
                    );
                    out.make_last_signin_grant(json!({"client_id": "arn:aws:signin:::devtools/same-device", "grant_type": "authorization_code"}), &cli);
                    let mut own = assumed(
                        account,
                        "AWSReservedSSO_Dev",
                        &person,
                        &format!("ASIACLI{:013}", rng.below(1000)),
                        None,
                    );
                    own["sessionContext"]["signInSessionArn"] = json!(cli);
                    out.call(
                        &mut rng,
                        next_id(),
                        t + Duration::seconds(125),
                        account,
                        region,
                        own,
                        "aws-cli/2.31.0",
                        "198.51.100.44",
                        ("", ""),
                        None,
                    );
                }
            }
            // The AWS-managed MCP server: a tool event and its downstream calls.
            63..=69 => {
                let person = format!("dev{}@example.com", rng.below(20));
                let key = format!("ASIAMCP{:013}", rng.below(1000));
                let calls = 1 + rng.below(3);
                let mut rids = Vec::new();
                for i in 0..calls {
                    let ident = assumed(
                        account,
                        "AWSReservedSSO_Dev",
                        &person,
                        &key,
                        Some("aws-mcp.amazonaws.com"),
                    );
                    rids.push(out.call(
                        &mut rng,
                        next_id(),
                        t + Duration::seconds(i as i64 + 1),
                        account,
                        region,
                        ident,
                        "aws-mcp.amazonaws.com",
                        "aws-mcp.amazonaws.com",
                        ("managed-mcp", "aws-mcp.amazonaws.com"),
                        None,
                    ));
                }
                let downstream: Vec<Value> = rids.iter().map(|r| json!({"requestId": r})).collect();
                let ident = assumed(account, "AWSReservedSSO_Dev", &person, &key, None);
                out.call(
                    &mut rng,
                    next_id(),
                    t,
                    account,
                    region,
                    ident,
                    "mcp-proxy-for-aws/1.2.0 claude-desktop/0.14.1",
                    "198.51.100.44",
                    ("managed-mcp", "aws-mcp.amazonaws.com"),
                    Some(("eventSource", json!("aws-mcp.amazonaws.com"))),
                );
                // Make the last record an AwsMcpEvent with the links.
                if let Some(last) = out.records.last_mut() {
                    last.3["eventType"] = json!("AwsMcpEvent");
                    last.3["eventName"] = json!("CallReadWriteTool");
                    last.3["requestParameters"] = json!({"toolName": "call_aws"});
                    last.3["additionalEventData"] = json!({"downstreamRequests": downstream});
                    strip_error(&mut last.3);
                }
            }
            // Self-managed MCP server: tagged AssumeRole (us-east-1), calls elsewhere, sometimes a chain,
            // sometimes a keyless call through a service, and a person reusing role + session name.
            _ => {
                session_no += 1;
                let server = format!("mcp-{}", rng.below(5));
                let role = format!("agent-role-{}", rng.below(8));
                let session = format!("agent-{session_no}");
                let key = format!("ASIAAGT{tag:03}{session_no:010}");
                let host = assumed(account, "mcp-host", "i-0abc", "ASIAHOST0000000001", None);
                let req = json!({"roleArn": format!("arn:aws:iam::{account}:role/{role}"), "roleSessionName": session,
                    "durationSeconds": 3600, "tags": [{"key": "AccessType", "value": "AI"}, {"key": "MCPServer", "value": server}],
                    "transitiveTagKeys": ["MCPServer"]});
                let resp = json!({"credentials": {"accessKeyId": key, "sessionToken": "IQoJ", "expiration": sts_expiry(t)},
                    "assumedRoleUser": {"arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"), "assumedRoleId": format!("AROA:{session}")}});
                out.call(
                    &mut rng,
                    next_id(),
                    t,
                    account,
                    "us-east-1",
                    host,
                    "aws-sdk-python/1.35.0",
                    "203.0.113.10",
                    ("", ""),
                    Some(("requestParameters", req)),
                );
                out.make_last_assume_role(resp);
                let ident = assumed(account, &role, &session, &key, None);
                for i in 0..(2 + rng.below(6)) {
                    out.call(
                        &mut rng,
                        next_id(),
                        t + Duration::seconds(5 + i as i64),
                        account,
                        region,
                        ident.clone(),
                        "aws-sdk-python/1.35.0 Python/3.12.6",
                        "203.0.113.10",
                        ("session-tag", &server),
                        None,
                    );
                }
                match rng.below(10) {
                    0..=2 => {
                        let child_key = format!("ASIACHN{tag:03}{session_no:010}");
                        let req = json!({"roleArn": format!("arn:aws:iam::{account}:role/deployer"), "roleSessionName": format!("{session}-c"),
                            "incomingTransitiveTags": {"MCPServer": server}});
                        let resp = json!({"credentials": {"accessKeyId": child_key, "expiration": sts_expiry(t)},
                            "assumedRoleUser": {"arn": format!("arn:aws:sts::{account}:assumed-role/deployer/{session}-c")}});
                        out.call(
                            &mut rng,
                            next_id(),
                            t + Duration::seconds(20),
                            account,
                            "us-east-1",
                            ident.clone(),
                            "aws-sdk-python/1.35.0",
                            "203.0.113.10",
                            ("session-tag", &server),
                            Some(("requestParameters", req)),
                        );
                        out.make_last_assume_role(resp);
                        let child = assumed(
                            account,
                            "deployer",
                            &format!("{session}-c"),
                            &child_key,
                            None,
                        );
                        for i in 0..(1 + rng.below(3)) {
                            out.call(
                                &mut rng,
                                next_id(),
                                t + Duration::seconds(30 + i as i64),
                                account,
                                region,
                                child.clone(),
                                "aws-sdk-go-v2/1.32.0",
                                "203.0.113.10",
                                ("chained", &server),
                                None,
                            );
                        }
                    }
                    3 => {
                        let keyless = assumed(
                            account,
                            &role,
                            &session,
                            "",
                            Some("cloudformation.amazonaws.com"),
                        );
                        out.call(
                            &mut rng,
                            next_id(),
                            t + Duration::seconds(40),
                            account,
                            region,
                            keyless,
                            "cloudformation.amazonaws.com",
                            "cloudformation.amazonaws.com",
                            ("session-name", &server),
                            None,
                        );
                    }
                    4 => {
                        let ident = json!({"type": "IAMUser", "arn": format!("arn:aws:iam::{account}:user/ops"), "accountId": account,
                            "accessKeyId": "AKIAOPS0000000000001", "userName": "ops"});
                        out.call(
                            &mut rng,
                            next_id(),
                            t + Duration::seconds(50),
                            account,
                            region,
                            ident,
                            "aws-sdk-python/1.35.0 awslabs/mcp/cloudwatch-mcp-server/0.0.9",
                            "198.51.100.9",
                            ("user-agent", "cloudwatch-mcp-server"),
                            None,
                        );
                    }
                    5 => {
                        // A person assumes the same role with the same session name, without tags, later.
                        let human_key = format!("ASIAHUM{session_no:013}");
                        let later = t + Duration::hours(2);
                        let req = json!({"roleArn": format!("arn:aws:iam::{account}:role/{role}"), "roleSessionName": session});
                        let resp = json!({"credentials": {"accessKeyId": human_key, "expiration": sts_expiry(later)}});
                        let person = json!({"type": "IAMUser", "arn": format!("arn:aws:iam::{account}:user/dave"),
                            "accountId": account, "accessKeyId": "AKIADAVE000000000001", "userName": "dave"});
                        out.call(
                            &mut rng,
                            next_id(),
                            later,
                            account,
                            "us-east-1",
                            person,
                            "aws-cli/2.22.0",
                            "198.51.100.7",
                            ("", ""),
                            Some(("requestParameters", req)),
                        );
                        out.make_last_assume_role(resp);
                        let reuse = assumed(account, &role, &session, &human_key, None);
                        out.call(
                            &mut rng,
                            next_id(),
                            later + Duration::seconds(5),
                            account,
                            region,
                            reuse,
                            "aws-cli/2.22.0",
                            "198.51.100.7",
                            ("", ""),
                            None,
                        );
                    }
                    _ => {}
                }
            }
        }
    }
    write(dir, opts, out, &mut rng)
}

fn write(
    dir: &Path,
    opts: &SynthOptions,
    out: Out,
    rng: &mut Rng,
) -> std::io::Result<SynthSummary> {
    let mut summary = SynthSummary {
        events: out.records.len() as u64,
        ..Default::default()
    };
    for l in &out.labels {
        let m = if l.mechanism.is_empty() {
            "human"
        } else {
            l.mechanism
        };
        *summary.by_mechanism.entry(m.to_string()).or_default() += 1;
    }
    // Group by account, region and 5-minute window, as CloudTrail delivers.
    let mut groups: BTreeMap<(String, String, i64), Vec<Value>> = BTreeMap::new();
    for (account, region, t, rec) in out.records {
        groups
            .entry((account, region, t.timestamp() / 300))
            .or_default()
            .push(rec);
    }
    let mut files = Vec::new();
    for ((account, region, window), mut recs) in groups {
        for i in (1..recs.len()).rev() {
            recs.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for (part, chunk) in recs.chunks(opts.records_per_file.max(1)).enumerate() {
            let t = Utc
                .timestamp_opt(window * 300, 0)
                .single()
                .unwrap_or_default();
            let folder = dir.join(format!(
                "AWSLogs/{account}/CloudTrail/{region}/{}",
                t.format("%Y/%m/%d")
            ));
            let name = format!(
                "{account}_CloudTrail_{region}_{}_{:08x}{part:08}.json.gz",
                t.format("%Y%m%dT%H%MZ"),
                rng.next() as u32
            );
            files.push((folder, name, chunk.to_vec()));
        }
    }
    let sizes = files
        .into_par_iter()
        .map(|(folder, name, recs)| -> std::io::Result<u64> {
            std::fs::create_dir_all(&folder)?;
            let body =
                serde_json::to_vec(&json!({ "Records": recs })).map_err(std::io::Error::other)?;
            let mut gz = GzEncoder::new(Vec::with_capacity(body.len() / 8), Compression::fast());
            gz.write_all(&body)?;
            let bytes = gz.finish()?;
            std::fs::write(folder.join(name), &bytes)?;
            Ok(bytes.len() as u64)
        })
        .collect::<Result<Vec<u64>, _>>()?;
    summary.files = sizes.len() as u64;
    summary.bytes = sizes.iter().sum();
    let mut labels = String::from("event_id,is_ai,ai_mechanism,mcp_server\n");
    let mut sorted = out.labels;
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    for l in sorted {
        labels.push_str(&format!(
            "{},{},{},{}\n",
            l.id,
            !l.mechanism.is_empty(),
            l.mechanism,
            l.server
        ));
    }
    std::fs::write(dir.join("labels.csv"), labels)?;
    Ok(summary)
}
