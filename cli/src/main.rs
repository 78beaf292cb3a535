//! `ringbus`: the IoT ingest demo and benchmark, and tools to look inside a data directory.
//!
//! Every failure is one line on stderr (`ringbus: error: ...`) and exit code 1 (2 for bad
//! arguments, from clap); nothing panics on bad input, and a closed stdout (`| head`) ends a
//! command quietly.

#![deny(unsafe_code)]

mod diagnostics;
mod inspect;
mod iot;
mod serve;
mod time;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The ringbus event bus: run the IoT ingest pipeline, benchmark it, inspect data directories.
#[derive(Parser, Debug)]
#[command(name = "ringbus", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Prints ringbus's diagnostics on stderr: -v what went wrong in the background and what
    /// the bus chose (the I/O backend, a torn tail cut off, retention deletions, a blocked
    /// publisher, a poisoned partition); -vv more detail.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs the IoT ingest pipeline on an embedded bus: simulated sensors publish keyed
    /// readings into a persisted topic; a fanout archiver and a group of aggregators consume
    /// them; prints a summary and checks the aggregates.
    Demo(DemoArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Lists the topics of a data directory.
    Topics {
        /// The data directory.
        dir: PathBuf,
    },
    /// Shows offsets, sizes, retention and groups (with their lag) of a data directory's
    /// topics.
    Stats {
        /// The data directory.
        dir: PathBuf,
        /// Only this topic.
        topic: Option<String>,
        /// `text` for people; `prometheus` for the OpenMetrics text a Prometheus scrape (or
        /// node_exporter's textfile collector) reads: every counter when no other process has
        /// the directory open, else what its files say (offsets, bytes, segments).
        #[arg(long, value_enum, default_value = "text")]
        format: inspect::StatsFormat,
    },
    /// Prints a topic's events.
    Tail(inspect::TailArgs),
    /// Checks every segment and every frame checksum of a data directory, read-only; exit
    /// code 0 when nothing is damaged, 1 otherwise.
    Verify {
        /// The data directory.
        dir: PathBuf,
    },
    /// Publishes each line of stdin as one event (without the newline) and prints each
    /// event's offset once it is acknowledged (for sync topics: once durable).
    Publish(inspect::PublishArgs),
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// The IoT ingest pipeline with every knob, optionally beside peers (--peers).
    Iot(BenchArgs),
    /// The IoT pipeline for a long time (default 30 minutes) on a persisted topic with
    /// retention, committing groups and a reader that comes and goes; samples RSS, file
    /// descriptors, disk and lag every 10 s (CSV and SVG plots) and fails on growth, a loss or
    /// a wrong aggregate. scripts/soak.sh runs it.
    Soak(iot::SoakArgs),
}

/// Payload encodings of a reading.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `{"sensor":17,"seq":4,"centi":2153,"t":123}` (about 50-60 bytes).
    Json,
    /// 24 bytes: sensor, sequence, value in hundredths of a degree, send time.
    Binary,
}

/// Durability of the pipeline's topic.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DurabilityArg {
    /// In memory only.
    Memory,
    /// Written behind, fsynced at least every 10 ms.
    Async,
    /// Acknowledged once fsynced.
    Sync,
}

#[derive(Args, Debug, Clone)]
struct DemoArgs {
    /// How long sensors publish, in seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Number of simulated sensors.
    #[arg(long, default_value_t = 10_000)]
    sensors: u32,
    /// Data directory (default: a fresh temporary directory, removed at the end unless --keep).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the temporary data directory.
    #[arg(long)]
    keep: bool,
    /// Print the results as one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Serve the bus's metrics (OpenMetrics text, for Prometheus) at http://ADDR/metrics
    /// while the demo runs: PORT (on 127.0.0.1) or HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<String>,
}

/// The pipeline's settings (`bench iot` takes them all; `demo` fixes most).
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Number of simulated sensors.
    #[arg(long, default_value_t = 10_000)]
    pub sensors: u32,
    /// Total publish rate limit in events/s (0: as fast as possible).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Payload encoding.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 4)]
    pub partitions: u32,
    /// Durability of the topic.
    #[arg(long, value_enum, default_value_t = DurabilityArg::Async)]
    pub durability: DurabilityArg,
    /// How long sensors publish, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Producer threads (the sensors are split between them).
    #[arg(long, default_value_t = 2)]
    pub producers: u32,
    /// Aggregator threads (members of one work-queue group).
    #[arg(long, default_value_t = 2)]
    pub aggregators: u32,
    /// Data directory (default: a fresh temporary directory, removed at the end).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print the results as JSON (one object per system).
    #[arg(long)]
    pub json: bool,
    /// Write results.json and plots (throughput over time, latency percentiles; SVG) here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Also run the pipeline on crossbeam-channel, and on Redis Streams and NATS JetStream
    /// where they listen (--redis, --nats), in the same run.
    #[arg(long)]
    pub peers: bool,
    /// Redis server for --peers.
    #[arg(long, default_value = "127.0.0.1:6379")]
    pub redis: String,
    /// NATS server (with JetStream) for --peers.
    #[arg(long, default_value = "127.0.0.1:4222")]
    pub nats: String,
    /// Serve ringbus's metrics (OpenMetrics text, for Prometheus) at http://ADDR/metrics
    /// while its run lasts: PORT (on 127.0.0.1) or HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,
}

fn main() -> ExitCode {
    // A bug must not dump a backtrace on a user: one line, like every other error.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("ringbus: internal error: {info}");
    }));
    let cli = Cli::parse();
    diagnostics::print_on_stderr(cli.verbose);
    let result = match cli.command {
        Command::Demo(a) => {
            let args = BenchArgs {
                sensors: a.sensors,
                rate: 0,
                format: Format::Json,
                partitions: 4,
                durability: DurabilityArg::Async,
                duration: a.duration,
                producers: 2,
                aggregators: 2,
                dir: a.dir.clone(),
                json: a.json,
                report: None,
                peers: false,
                redis: String::new(),
                nats: String::new(),
                metrics_addr: a.metrics_addr.clone(),
            };
            iot::demo(&args, a.keep)
        }
        Command::Bench(BenchCommand::Iot(args)) => iot::bench(&args),
        Command::Bench(BenchCommand::Soak(args)) => iot::soak(&args),
        Command::Topics { dir } => inspect::topics(&dir),
        Command::Stats { dir, topic, format } => inspect::stats(&dir, topic.as_deref(), format),
        Command::Tail(args) => inspect::tail(&args),
        Command::Verify { dir } => inspect::verify(&dir),
        Command::Publish(args) => inspect::publish(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringbus: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A command's failure: printed as one line.
#[derive(Debug)]
pub struct Failure(String, bool);

impl Failure {
    /// A failure with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Failure(message.into(), false)
    }

    fn is_broken_pipe(&self) -> bool {
        self.1
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<ringbus::Error> for Failure {
    fn from(e: ringbus::Error) -> Self {
        Failure(e.to_string(), false)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure(e.to_string(), e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// What commands return.
pub type Outcome = Result<ExitCode, Failure>;
