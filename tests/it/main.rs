//! The one integration-test binary: a module per area.

mod classify;
mod cli;
mod conformance;
mod crash;
mod detections;
mod lake;
mod publish;
mod s3;
mod util;
