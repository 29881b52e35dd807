//! The one integration-test binary: a module per area.

mod classify;
mod cli;
mod conformance;
mod lake;
mod s3;
mod util;
