//! The IoT ingest pipeline, the demo and the benchmark: sensors publish keyed readings into a
//! partitioned topic; a fanout archiver sees every reading; a work-queue group of aggregators
//! keeps per-sensor count, min, max and mean over one-second windows. At the end the
//! aggregates are checked against what the producers published.
//!
//! - `reading.rs`: a reading and its encodings; `aggregate.rs`: what consumers compute and the
//!   final check;
//! - `run.rs`: what every system's run shares (producers, progress, the result, the harness
//!   of the networked peers);
//! - one runner per system: `ringbus.rs`, `crossbeam.rs`, `redis.rs`, `nats.rs` (`net.rs`:
//!   connecting to the servers);
//! - `bench.rs`: `demo` and `bench iot`, the `System` enum that picks a runner, the table;
//!   `charts.rs`: the report's results.json and SVG charts;
//! - `soak.rs`: `bench soak`, the long run that watches memory, descriptors, disk and lag.

mod aggregate;
mod bench;
mod charts;
mod crossbeam;
mod nats;
mod net;
mod reading;
mod redis;
mod ringbus;
mod run;
mod soak;

pub(crate) use bench::{bench, demo};
pub(crate) use soak::{soak, SoakArgs};
