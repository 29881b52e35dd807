//! A fault-injecting HTTP/1.1 proxy on 127.0.0.1, between agenttrail and the local AWS server.
//!
//! Each request is identified by its method, target and (for the query protocol) `Action`; a
//! policy sees that identity and how many times it has been seen, and returns the fault to inject
//! on this attempt, if any. Faults are the ones S3 and CloudWatch really produce: connection
//! resets before a response, `503 SlowDown`/`Throttling` and `500 InternalError` answers, bodies
//! cut short (connection closed mid-body, or a response that claims fewer bytes than the object
//! has), slow answers, and a response lost after the server applied the request.
//!
//! Blocking threads, one per connection: the tests' own runtime is never involved.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// The connection is reset (RST) without a response; the server never sees the request.
    Reset,
    /// An error status with an AWS error body (`503 SlowDown`, `500 InternalError`, …).
    Status(u16, &'static str),
    /// The server's response, with the connection closed halfway through the body.
    CutBody,
    /// The server's response shortened to half its body, with a matching `Content-Length`.
    ShortBody,
    /// The server's response, after a delay.
    Slow(Duration),
    /// The request reaches the server, which applies it; the response is lost (reset).
    LoseResponse,
}

type Policy = dyn Fn(&str, u32) -> Option<Fault> + Send + Sync;

struct Shared {
    upstream: String,
    policy: Box<Policy>,
    seen: Mutex<HashMap<String, u32>>,
    injected: Mutex<Vec<(String, Fault)>>,
    stop: AtomicBool,
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    pub endpoint: String,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// Proxy to `upstream` (`http://127.0.0.1:port`) with `policy(identity, attempt)`, where
    /// `attempt` counts from 1 for each identity.
    pub fn start(
        upstream: &str,
        policy: impl Fn(&str, u32) -> Option<Fault> + Send + Sync + 'static,
    ) -> FaultProxy {
        let upstream = upstream
            .strip_prefix("http://")
            .expect("an http:// upstream")
            .trim_end_matches('/')
            .to_string();
        assert!(upstream.starts_with("127.0.0.1:"), "loopback only");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            upstream,
            policy: Box::new(policy),
            seen: Mutex::default(),
            injected: Mutex::default(),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &s);
                });
            }
        });
        FaultProxy { endpoint, shared }
    }

    /// Every fault injected so far, with the identity of the request it hit.
    pub fn injected(&self) -> Vec<(String, Fault)> {
        self.shared.injected.lock().unwrap().clone()
    }

    /// Every request identity seen, in no particular order.
    pub fn identities(&self) -> Vec<String> {
        self.shared.seen.lock().unwrap().keys().cloned().collect()
    }

    /// How many requests with exactly this identity were seen.
    pub fn count(&self, identity: &str) -> u32 {
        self.shared
            .seen
            .lock()
            .unwrap()
            .get(identity)
            .copied()
            .unwrap_or(0)
    }

    /// How many requests with this identity prefix were seen (faulted or not).
    pub fn seen(&self, prefix: &str) -> u32 {
        let seen = self.shared.seen.lock().unwrap();
        seen.iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.endpoint.trim_start_matches("http://"));
    }
}

struct Request {
    head: Vec<String>,
    body: Vec<u8>,
}

fn read_request(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    assert!(
        header(&head, "transfer-encoding").is_none(),
        "the fault proxy does not forward chunked request bodies: {head:?}"
    );
    let len: usize = header(&head, "content-length").map_or(0, |v| v.parse().unwrap());
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(Some(Request { head, body }))
}

fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn identity(req: &Request) -> String {
    let mut parts = req.head[0].split(' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    // PutMetricData bodies over 10 KB arrive gzip-compressed (the SDK's request compression).
    let mut body = req.body.clone();
    if header(&req.head, "content-encoding").is_some_and(|e| e.contains("gzip")) {
        let mut plain = Vec::new();
        if flate2::read::MultiGzDecoder::new(&req.body[..])
            .read_to_end(&mut plain)
            .is_ok()
        {
            body = plain;
        }
    }
    // JSON-protocol services (CloudTrail) name the operation in X-Amz-Target, e.g.
    // `CloudTrail_20131101.ListPublicKeys`: identified as `cloudtrail:ListPublicKeys`.
    let target_action = header(&req.head, "x-amz-target").and_then(|t| {
        let mut segs = t.rsplit('.');
        let op = segs.next()?;
        let service = segs.next()?.split('_').next()?.to_ascii_lowercase();
        Some(format!("{service}:{op}"))
    });
    let action = target_action.or_else(|| {
        String::from_utf8_lossy(&body)
            .split('&')
            .find_map(|kv| kv.strip_prefix("Action=").map(str::to_string))
    });
    match action {
        Some(a) => format!("{method} {target} {a}"),
        None => format!("{method} {target}"),
    }
}

fn reset(conn: &TcpStream) {
    let _ = socket2::SockRef::from(conn).set_linger(Some(Duration::ZERO));
}

fn serve(conn: TcpStream, s: &Shared) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    while let Some(req) = read_request(&mut reader)? {
        let id = identity(&req);
        let attempt = {
            let mut seen = s.seen.lock().unwrap();
            let n = seen.entry(id.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let fault = (s.policy)(&id, attempt);
        if let Some(f) = fault {
            s.injected.lock().unwrap().push((id.clone(), f));
        }
        if fault == Some(Fault::Reset) {
            reset(&out);
            return Ok(());
        }
        if let Some(Fault::Status(code, aws_code)) = fault {
            let error = format!(
                "<Error><Type>Receiver</Type><Code>{aws_code}</Code><Message>injected by the test proxy</Message></Error>"
            );
            // S3's error document, or the query protocol's (CloudWatch) wrapper.
            let body = if id.matches(' ').count() == 2 {
                format!("<ErrorResponse>{error}<RequestId>fault</RequestId></ErrorResponse>")
            } else {
                error
            };
            write!(
                out,
                "HTTP/1.1 {code} {aws_code}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )?;
            continue;
        }
        let response = forward(&req, &s.upstream)?;
        let (resp_head, resp_body) = split_response(&response);
        match fault {
            Some(Fault::LoseResponse) => {
                reset(&out);
                return Ok(());
            }
            Some(Fault::CutBody) => {
                out.write_all(resp_head.as_bytes())?;
                out.write_all(&resp_body[..resp_body.len() / 2])?;
                out.flush()?;
                let _ = out.shutdown(Shutdown::Both);
                return Ok(());
            }
            Some(Fault::ShortBody) => {
                let half = &resp_body[..resp_body.len() / 2];
                out.write_all(with_length(resp_head, half.len()).as_bytes())?;
                out.write_all(half)?;
            }
            Some(Fault::Slow(d)) => {
                std::thread::sleep(d);
                out.write_all(&response)?;
            }
            _ => out.write_all(&response)?,
        }
        out.flush()?;
        if !resp_head.to_ascii_lowercase().contains("content-length:") {
            // The body was delimited by the upstream closing; do the same.
            let _ = out.shutdown(Shutdown::Both);
            return Ok(());
        }
    }
    Ok(())
}

/// Send one request upstream on a fresh connection (`Connection: close`) and read all of it.
fn forward(req: &Request, upstream: &str) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(upstream)?;
    let mut head = String::new();
    for (i, line) in req.head.iter().enumerate() {
        let name = line.split(':').next().unwrap_or_default().trim();
        if i > 0 && name.eq_ignore_ascii_case("connection") {
            continue;
        }
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    up.write_all(head.as_bytes())?;
    up.write_all(&req.body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    Ok(response)
}

fn split_response(response: &[u8]) -> (&str, &[u8]) {
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head")
        + 4;
    (
        std::str::from_utf8(&response[..end]).expect("an ASCII response head"),
        &response[end..],
    )
}

fn with_length(head: &str, len: usize) -> String {
    head.split("\r\n")
        .map(|l| {
            if l.to_ascii_lowercase().starts_with("content-length:") {
                format!("Content-Length: {len}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}
