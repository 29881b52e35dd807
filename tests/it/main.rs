//! The one integration-test binary: a module per area.

mod classify;
mod cli;
mod conformance;
mod crash;
mod deploy;
mod detections;
mod engines;
mod fault_proxy;
mod faults;
mod fuzz;
mod integrity;
mod kept;
mod lake;
mod privilege;
mod publish;
mod s3;
mod util;
