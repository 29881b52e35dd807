//! The one integration-test binary: a module per area.

mod cli;
mod conformance;
mod lake;
mod s3;
mod util;
