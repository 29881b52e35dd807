//! The correlate stage: which events were driven by an AI agent, how we know, and through which
//! MCP server and tool.
//!
//! Classification happens when the lake is queried, not when it is written. An `AssumeRole` can
//! arrive in an earlier run, an earlier day, another region's file (global STS → us-east-1) or a
//! *later* file than the calls it explains; deciding at ingest would make the answer depend on
//! delivery order, or require rewriting old files when a late STS event arrives. Instead the
//! lake stores facts only: the events, and what each STS, MCP and sign-in event said, parsed once
//! by the commit that wrote it (`facts`). `query::build_context` derives, from the facts each
//! time (small tables; no raw JSON is parsed at query time; a context limited to a time range
//! reads the credentials that can be live in it and their chains, see `query::sessions`):
//! - `sessions`: one row per STS session (this module, `sts` + `sessions`), with its AI decision
//!   after following role chains;
//! - `mcp_links`: request ids of calls made by AWS-managed MCP servers, with tool and client
//!   (`mcp`);
//! - `signin_grants` / `signin_mcp_sessions`: AWS Sign-In OAuth grants and the sign-in sessions
//!   granted to an MCP endpoint, with the person behind them (`signin`);
//! - `events`: every event joined to its session by access key, to its sign-in session, and to
//!   its MCP link by request id (or inferred, `signin`), plus the per-event rules (`rules`): managed-MCP `invokedBy`, user-agent markers, and the
//!   low-confidence session-name fallback for calls without an access key.
//!
//! The same objects therefore give the same labels whether ingested in one run, in any order, or
//! split across many runs, which `tests/it/classify.rs` checks.

pub mod facts;
pub mod mcp;
pub mod rules;
pub mod sessions;
pub mod signin;
pub mod sts;
