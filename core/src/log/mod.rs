//! The on-disk log of persisted topics: data directory, segment files, recovery, the persister
//! thread and readers behind the ring. `log` knows rings (it writes their bytes) and the
//! crate's vocabulary (errors, configuration, clock), never the bus above it: a topic hands its
//! persister its rings, and builds itself from what recovery found.
//!
//! ```text
//! DIR/LOCK                                  held (flock) by the bus that has DIR open
//! DIR/<topic>/topic.conf                    the topic's configuration, key=value lines
//! DIR/<topic>/<partition>/<offset>.seg      segments, named by their first frame's offset
//! DIR/<topic>/<partition>/<offset>.tix      each segment's sparse time index (a hint)
//! DIR/<topic>/groups/<group>.offsets        a durable group's committed offsets
//! ```
//!
//! A frame's offset is its byte position in the partition's log, so the ring's bytes are the
//! file's bytes: the persister copies committed ring bytes into the active segment unchanged
//! (see `format.rs` and FORMAT.md).
//!
//! - `shared.rs`: what a partition's readers, publishers and persister share
//! - `dir.rs`: the data directory, its lock, file modes, safe file replacement
//! - `conf.rs`: `topic.conf`
//! - `format.rs`: the segment header and the frame decoder
//! - `segment.rs`: creating segment files
//! - `recovery.rs`: finding the end of a partition's log when it is opened
//! - `timeindex.rs`: the sparse time index and timestamp seeks
//! - `offsets.rs`: durable groups' committed offsets
//! - `fs.rs`: every change to a data directory (create, write, sync, rename, delete)
//! - `io.rs`: the persister's I/O backends (io_uring, `pwrite`/`fdatasync`, fault injection)
//! - `powerloss.rs`: the power-loss simulator (the `power-loss` feature, for tests)
//! - `persister.rs`: the persister thread
//! - `syncer.rs`: the fsync thread of `Async` topics
//! - `reader.rs`: reading segment files behind the ring
//! - `verify.rs`: read-only checking of a data directory (`ringbus verify`)
//! - `fuzz_entry.rs`: what the fuzz targets call

pub(crate) mod conf;
pub(crate) mod dir;
pub(crate) mod format;
pub(crate) mod fs;
pub(crate) mod fuzz_entry;
pub(crate) mod io;
pub(crate) mod offsets;
pub(crate) mod persister;
#[cfg(feature = "power-loss")]
pub mod powerloss;
pub(crate) mod reader;
pub(crate) mod recovery;
pub(crate) mod segment;
pub(crate) mod shared;
pub(crate) mod syncer;
pub(crate) mod timeindex;
pub(crate) mod verify;
