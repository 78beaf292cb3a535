//! `ringbus demo` and `ringbus bench iot`: checking the arguments, the run's data directory,
//! running each system and printing (or writing) what it measured.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::net::reachable;
use super::run::RunResult;
use super::{charts, crossbeam, nats, redis, ringbus};
use crate::{BenchArgs, Failure, Outcome};

/// The systems the pipeline runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum System {
    /// ringbus, embedded, on the run's data directory.
    Ringbus,
    /// crossbeam-channel, in memory.
    Crossbeam,
    /// Redis Streams at `--redis`.
    Redis,
    /// NATS JetStream at `--nats`.
    Nats,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::Ringbus => "ringbus",
            System::Crossbeam => "crossbeam-channel",
            System::Redis => "Redis",
            System::Nats => "NATS",
        }
    }

    /// The server a networked system runs against.
    fn server(self, args: &BenchArgs) -> Option<&str> {
        match self {
            System::Redis => Some(&args.redis),
            System::Nats => Some(&args.nats),
            System::Ringbus | System::Crossbeam => None,
        }
    }

    /// Runs the pipeline on this system (ringbus in `dir`).
    fn run(self, args: &BenchArgs, dir: &Path) -> Result<RunResult, Failure> {
        match self {
            System::Ringbus => ringbus::run(args, dir),
            System::Crossbeam => crossbeam::run(args),
            System::Redis => redis::run(args, &args.redis),
            System::Nats => nats::run(args, &args.nats),
        }
    }
}

/// Checks the arguments a run needs.
fn validate(args: &BenchArgs) -> Result<(), Failure> {
    if !(args.duration > 0.0 && args.duration <= 86_400.0) {
        return Err(Failure::new(format!("--duration {}: expected seconds above 0 and at most 86400", args.duration)));
    }
    if args.sensors == 0 {
        return Err(Failure::new("--sensors 0: the pipeline needs at least one sensor"));
    }
    if args.producers == 0 || args.producers > 256 {
        return Err(Failure::new(format!("--producers {}: expected 1 to 256", args.producers)));
    }
    if args.aggregators == 0 || args.aggregators > 256 {
        return Err(Failure::new(format!("--aggregators {}: expected 1 to 256", args.aggregators)));
    }
    if args.partitions == 0 || args.partitions > 4096 {
        return Err(Failure::new(format!("--partitions {}: expected 1 to 4096", args.partitions)));
    }
    if let Some(addr) = &args.metrics_addr {
        crate::serve::parse_addr(addr)?;
    }
    Ok(())
}

/// A data directory for a run: the one asked for, or a fresh temporary one (removed after).
struct RunDir {
    path: PathBuf,
    remove: bool,
}

impl RunDir {
    fn new(asked: Option<&PathBuf>, keep: bool) -> Result<Self, Failure> {
        if let Some(dir) = asked {
            if dir.exists() && !dir.is_dir() {
                return Err(Failure::new(format!("{} is not a directory", dir.display())));
            }
            return Ok(RunDir { path: dir.clone(), remove: false });
        }
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!("ringbus-demo-{}-{nanos}", std::process::id()));
        Ok(RunDir { path, remove: !keep })
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn print_table(r: &RunResult, dir: Option<&RunDir>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}: IoT ingest, {} sensors, {} partitions, {} producers, {} aggregators, {} payloads",
        r.system,
        r.sensors,
        r.partitions,
        r.producers,
        r.aggregators,
        format!("{:?}", r.format).to_lowercase()
    )?;
    if let Some(d) = dir {
        let fate = if d.remove { "removed at the end; --keep keeps it" } else { "kept" };
        writeln!(out, "data directory: {} ({fate})", d.path.display())?;
    }
    let ms = |us: f64| format!("{:.3} ms", us / 1000.0);
    let rows = [
        ("events", r.events.to_string()),
        ("seconds", format!("{:.2} (publishing, then draining the readers)", r.seconds)),
        ("events/s", format!("{:.0}", r.rate())),
        ("MB/s", format!("{:.1} (keys and payloads)", r.bytes as f64 / r.seconds / 1e6)),
        ("latency p50", ms(r.latency_us(50.0))),
        ("latency p99", ms(r.latency_us(99.0))),
        ("latency p99.9", ms(r.latency_us(99.9))),
        ("durability", r.durability.clone()),
        ("io backend", r.io_backend.clone()),
        ("archived", format!("{} (fanout subscription)", r.archived)),
        (
            "aggregated",
            format!("{} by {} group members, {} sensor windows of 1 s", r.aggregated, r.aggregators, r.windows),
        ),
        (
            "aggregates",
            match &r.mismatch {
                None => format!("OK: count, min, max and mean match what was published for all {} sensors", r.sensors),
                Some(m) => format!("MISMATCH: {m}"),
            },
        ),
    ];
    for (name, value) in rows {
        writeln!(out, "  {name:<15} {value}")?;
    }
    Ok(())
}

/// `ringbus demo`.
pub fn demo(args: &BenchArgs, keep: bool) -> Outcome {
    validate(args)?;
    let dir = RunDir::new(args.dir.as_ref(), keep)?;
    let result = System::Ringbus.run(args, &dir.path)?;
    if args.json {
        println!("{}", result.to_json());
    } else {
        print_table(&result, Some(&dir))?;
        if !dir.remove {
            println!(
                "\nlook inside: ringbus stats {0} | ringbus tail {0} readings | ringbus verify {0}",
                dir.path.display()
            );
        }
    }
    Ok(if result.mismatch.is_none() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `ringbus bench iot`.
pub fn bench(args: &BenchArgs) -> Outcome {
    validate(args)?;
    let dir = RunDir::new(args.dir.as_ref(), false)?;
    let mut results = vec![System::Ringbus.run(args, &dir.path)?];
    if args.peers {
        for peer in [System::Crossbeam, System::Redis, System::Nats] {
            match peer.server(args) {
                Some(addr) if !reachable(addr) => eprintln!(
                    "{}: nothing listens at {addr}; left out (benches/peers.sh installs and starts the servers)",
                    peer.name()
                ),
                _ => results.push(peer.run(args, &dir.path)?),
            }
        }
    }
    if args.json {
        for r in &results {
            println!("{}", r.to_json());
        }
    } else {
        for (i, r) in results.iter().enumerate() {
            if i > 0 {
                println!();
            }
            print_table(r, (i == 0).then_some(&dir))?;
        }
        if results.len() > 1 {
            println!("\nratios (ringbus / peer):");
            for peer in &results[1..] {
                println!(
                    "  {:<18} {:.2}x events/s, p99 latency {:.2}x ({} vs {})",
                    peer.system,
                    results[0].rate() / peer.rate(),
                    results[0].latency_us(99.0) / peer.latency_us(99.0).max(1.0),
                    results[0].durability,
                    peer.durability
                );
            }
        }
    }
    if let Some(report) = &args.report {
        charts::write(report, &results)?;
        if !args.json {
            println!("\nreport: {}", report.display());
        }
    }
    Ok(if results.iter().all(|r| r.mismatch.is_none()) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
