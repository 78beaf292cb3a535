//! `ringbus bench soak`: the IoT pipeline for a long time on a persisted topic with retention
//! by bytes and by age, a group whose members commit every second, a fanout archiver, a
//! follower of the data directory (reading only the files, as one in another process would),
//! and a reader that joins and leaves every few seconds. Every `--sample` seconds it records the
//! process's RSS and open file descriptors, the data directory's size and the readers' lag in
//! a CSV file, and plots them (SVG). It fails when the aggregates do not match what was
//! published, when an event is lost (the follower's too, or retention deleted what it had not
//! read), or when something grows without bound: RSS or file
//! descriptors rising in the second half of the run after warm-up, or the directory above
//! what retention allows (per partition, `retention_bytes` plus one segment, and the spare
//! segment prepared for the next rotation).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use ringbus::{Bus, Durability, FollowOptions, Follower, SlowConsumerPolicy, Start, SubscribeOptions, TopicConfig};

use super::aggregate::{check, Aggregator};
use super::charts::line_chart;
use super::ringbus::{archive_readings, publish_readings};
use super::run::{join_producers, Progress};
use crate::{BenchArgs, DurabilityArg, Failure, Format, Outcome};

/// The soak's knobs.
#[derive(Args, Debug, Clone)]
pub struct SoakArgs {
    /// How long sensors publish, in minutes.
    #[arg(long, default_value_t = 30.0)]
    pub minutes: f64,
    /// Total publish rate in events/s in the busy half-minutes; the quiet ones between them
    /// run at a sixth of it (so retention by bytes deletes in the busy ones, by age in the
    /// quiet ones).
    #[arg(long, default_value_t = 120_000)]
    pub rate: u64,
    /// Simulated sensors.
    #[arg(long, default_value_t = 10_000)]
    pub sensors: u32,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 4)]
    pub partitions: u32,
    /// Segment size in MiB.
    #[arg(long, default_value_t = 4)]
    pub segment_mib: u64,
    /// Retention by bytes, per partition, in MiB.
    #[arg(long, default_value_t = 16)]
    pub retention_mib: u64,
    /// Retention by age, in seconds.
    #[arg(long, default_value_t = 10)]
    pub retention_age_s: u64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 10)]
    pub sample_s: u64,
    /// Data directory (default: a fresh temporary directory, removed at the end).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Where soak.csv and the plots go.
    #[arg(long, default_value = "target/soak")]
    pub out: PathBuf,
}

/// One sample.
#[derive(Debug, Clone, Copy)]
struct Sample {
    seconds: f64,
    rss_kib: u64,
    fds: u64,
    disk_bytes: u64,
    lag_events: u64,
    published: u64,
    joins: u64,
}

/// Runs the soak; exit code 0 when every check holds.
pub(crate) fn soak(args: &SoakArgs) -> Outcome {
    let temp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            temp = std::env::temp_dir().join(format!("ringbus-soak-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&temp);
            temp.clone()
        }
    };
    std::fs::create_dir_all(&args.out).map_err(|e| Failure::new(format!("creating {}: {e}", args.out.display())))?;
    let bench = BenchArgs {
        sensors: args.sensors,
        // Paced below (`Pace`), in busy and quiet half-minutes.
        rate: 0,
        format: Format::Binary,
        partitions: args.partitions,
        durability: DurabilityArg::Async,
        duration: args.minutes * 60.0,
        producers: 2,
        aggregators: 2,
        dir: None,
        json: false,
        report: None,
        peers: false,
        redis: String::new(),
        nats: String::new(),
        metrics_addr: None,
    };
    let segment = args.segment_mib << 20;
    let retention = args.retention_mib << 20;
    let bus = Bus::open(&dir)?;
    let config = TopicConfig::new()
        .partitions(args.partitions)
        .durability(Durability::Async { max_delay: Duration::from_millis(10) })
        .capacity(1 << 20)
        .max_payload(256)
        .max_key(32)
        .segment_bytes(segment)
        .retention_bytes(retention)
        .retention_age(Duration::from_secs(args.retention_age_s));
    let topic = match bus.topic("readings") {
        Some(t) => t,
        None => bus.create_topic("readings", config)?,
    };
    println!(
        "soak: {} min at {} events/s (a sixth of it every other half-minute), {} partitions, segments {} MiB, retention {} MiB per partition and {} s; \
         a follower of the directory reads along; samples every {} s into {}",
        args.minutes,
        args.rate,
        args.partitions,
        args.segment_mib,
        args.retention_mib,
        args.retention_age_s,
        args.sample_s,
        args.out.join("soak.csv").display()
    );
    let mut archive = topic.subscribe(SubscribeOptions::new().start(Start::Latest))?;
    // A follower of the directory (in this process here; it reads only the files, as one in
    // another process would), from the same point as the archiver.
    let mut followed = Follower::open(&dir)?.subscribe("readings", FollowOptions::new().start(Start::Latest))?;
    let flushed_all = AtomicBool::new(false);
    let flushed_all = &flushed_all;
    let group = topic.group("aggregators", Start::Latest)?;
    let members: Vec<_> = (0..bench.aggregators).map(|_| group.join()).collect();
    let keys: Vec<String> = (0..args.sensors).map(|s| format!("sensor-{s:05}")).collect();
    let (keys, bench_ref) = (&keys, &bench);
    let progress = Progress::new();
    let progress = &progress;
    let joins = AtomicU64::new(0);
    let visitor_bad = AtomicU64::new(0);
    let (joins, visitor_bad) = (&joins, &visitor_bad);
    let csv_path = args.out.join("soak.csv");
    let mut csv = std::fs::File::create(&csv_path).map_err(|e| Failure::new(format!("{}: {e}", csv_path.display())))?;
    writeln!(csv, "seconds,rss_kib,fds,disk_bytes,lag_events,published,reader_joins")?;
    let (samples, expected, archive, aggregators, (followed, trimmed, follower_bad)) = thread::scope(|s| {
        let producers: Vec<_> = (0..bench_ref.producers)
            .map(|p| {
                let topic = topic.clone();
                s.spawn(move || {
                    let mut pace = Pace::new(args.rate as f64 / f64::from(bench_ref.producers));
                    publish_readings(&topic, p, bench_ref, keys, progress, |n| pace.wait(n))
                })
            })
            .collect();
        let archiver = s.spawn(move || archive_readings(&mut archive, bench_ref, progress));
        let workers: Vec<_> = members
            .into_iter()
            .map(|mut member| {
                s.spawn(move || {
                    let mut agg = Aggregator::new(bench_ref.sensors);
                    let mut committed = Instant::now();
                    loop {
                        match member.poll_batch(4096, Some(Duration::from_millis(50)), |e| {
                            agg.take(e.payload, 0, Format::Binary, progress.start);
                        }) {
                            Ok(_) => {}
                            Err(ringbus::Error::Closed) => {
                                member.commit()?;
                                return Ok(agg.finish());
                            }
                            Err(e) => return Err(Failure::from(e)),
                        }
                        if committed.elapsed() >= Duration::from_secs(1) {
                            member.commit()?;
                            committed = Instant::now();
                        }
                    }
                })
            })
            .collect();
        // The follower reads until everything published is flushed and it has read to the end.
        let follower = s.spawn(move || -> Result<(u64, u64, u64), Failure> {
            let mut agg = Aggregator::new(bench_ref.sensors);
            let (mut seen, mut trimmed) = (0u64, 0u64);
            loop {
                let done = flushed_all.load(Ordering::Acquire);
                match followed.poll_batch(4096, Some(Duration::from_millis(if done { 500 } else { 50 })), |e| {
                    agg.take(e.payload, 0, Format::Binary, progress.start);
                    seen += 1;
                }) {
                    Ok(0) if done => return Ok((seen, trimmed, agg.bad)),
                    Ok(_) => {}
                    Err(ringbus::Error::OffsetTrimmed { .. }) => trimmed += 1,
                    Err(e) => return Err(Failure::from(e)),
                }
            }
        });
        // A reader that joins, reads for two seconds, and leaves, over and over.
        let visitor_topic = topic.clone();
        let visitor = s.spawn(move || -> Result<(), Failure> {
            while !progress.stop.load(Ordering::Relaxed) {
                let options = SubscribeOptions::new().start(Start::Latest).policy(SlowConsumerPolicy::DropOldest);
                let mut sub = visitor_topic.subscribe(options)?;
                joins.fetch_add(1, Ordering::Relaxed);
                let until = Instant::now() + Duration::from_secs(2);
                let mut agg = Aggregator::new(bench_ref.sensors);
                while Instant::now() < until {
                    match sub.poll_batch(1024, Some(Duration::from_millis(50)), |e| {
                        agg.take(e.payload, 0, Format::Binary, progress.start)
                    }) {
                        Ok(_) | Err(ringbus::Error::Lagged { .. }) => {}
                        Err(ringbus::Error::Closed) => break,
                        Err(e) => return Err(Failure::from(e)),
                    }
                }
                visitor_bad.fetch_add(agg.bad, Ordering::Relaxed);
                drop(sub);
                thread::sleep(Duration::from_secs(1));
            }
            Ok(())
        });
        let mut samples = Vec::new();
        let duration = Duration::from_secs_f64(args.minutes * 60.0);
        let period = Duration::from_secs(args.sample_s.max(1));
        let mut next = progress.start + period;
        loop {
            let now = Instant::now();
            if now >= progress.start + duration {
                break;
            }
            thread::sleep(next.min(progress.start + duration).saturating_duration_since(now));
            if Instant::now() < next {
                continue;
            }
            next += period;
            let stats = topic.stats();
            let sample = Sample {
                seconds: progress.start.elapsed().as_secs_f64(),
                rss_kib: rss_kib(),
                fds: open_fds(),
                disk_bytes: dir_size(&dir),
                lag_events: stats.readers.iter().map(|r| r.lag).max().unwrap_or(0),
                published: progress.published.load(Ordering::Relaxed),
                joins: joins.load(Ordering::Relaxed),
            };
            let _ = writeln!(
                csv,
                "{:.1},{},{},{},{},{},{}",
                sample.seconds,
                sample.rss_kib,
                sample.fds,
                sample.disk_bytes,
                sample.lag_events,
                sample.published,
                sample.joins
            );
            println!(
                "{:>7.0} s  rss {:>7.1} MiB  fds {:>4}  disk {:>7.1} MiB  lag {:>8}  published {:>11}  reader joins {}",
                sample.seconds,
                sample.rss_kib as f64 / 1024.0,
                sample.fds,
                sample.disk_bytes as f64 / 1048576.0,
                sample.lag_events,
                sample.published,
                sample.joins
            );
            samples.push(sample);
        }
        progress.stop.store(true, Ordering::Relaxed);
        let expected = join_producers(producers, bench_ref.sensors);
        let flushed = topic.flush(None);
        flushed_all.store(true, Ordering::Release);
        topic.close();
        let archive = archiver.join().expect("the archiver thread");
        let aggregators: Vec<_> = workers.into_iter().map(|w| w.join().expect("an aggregator thread")).collect();
        let visited = visitor.join().expect("the visiting reader");
        let follower = follower.join().expect("the follower");
        flushed?;
        visited?;
        let aggregators = aggregators.into_iter().collect::<Result<Vec<_>, _>>()?;
        Ok::<_, Failure>((samples, expected?, archive?, aggregators, follower?))
    })?;
    bus.close();
    drop(bus);
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    write_plots(&args.out, &samples)?;
    let published: u64 = expected.iter().map(|a| a.count).sum();
    let mut failures = Vec::new();
    if let Some(m) = check(&expected, &aggregators, archive.events) {
        failures.push(format!("aggregates: {m}"));
    }
    if followed != published || trimmed > 0 {
        failures.push(format!(
            "the follower read {followed} of {published} events ({trimmed} times retention deleted what it had not read)"
        ));
    }
    if archive.bad + visitor_bad.load(Ordering::Relaxed) + follower_bad > 0 {
        failures.push("a reader could not decode a reading".into());
    }
    // Per partition: what retention keeps, the segment being written past it, and the spare
    // the fsync thread prepares for the next rotation (Async topics).
    let disk_limit = u64::from(args.partitions) * (retention + 2 * segment) + (1 << 20);
    failures.extend(growth(&samples, disk_limit));
    let last = samples.last().copied();
    println!(
        "soak: {published} events in {:.0} s ({:.0} events/s), archived {}, aggregated {}, followed {followed}, reader joins {}; \
         last sample: rss {:.1} MiB, fds {}, disk {:.1} MiB (limit {:.1} MiB); csv and plots in {}",
        args.minutes * 60.0,
        published as f64 / (args.minutes * 60.0),
        archive.events,
        aggregators.iter().map(|a| a.events).sum::<u64>(),
        joins.load(Ordering::Relaxed),
        last.map_or(0.0, |s| s.rss_kib as f64 / 1024.0),
        last.map_or(0, |s| s.fds),
        last.map_or(0.0, |s| s.disk_bytes as f64 / 1048576.0),
        disk_limit as f64 / 1048576.0,
        args.out.display()
    );
    if failures.is_empty() {
        println!("soak: every check held");
        Ok(std::process::ExitCode::SUCCESS)
    } else {
        for f in &failures {
            println!("soak: FAILED: {f}");
        }
        Ok(std::process::ExitCode::FAILURE)
    }
}

/// Paces a producer: `rate` events/s in the busy half-minutes, a sixth of it in the quiet
/// half-minutes between them.
struct Pace {
    rate: f64,
    start: Instant,
    due: Duration,
}

impl Pace {
    fn new(rate: f64) -> Self {
        Pace { rate, start: Instant::now(), due: Duration::ZERO }
    }

    /// Waits until `events` more may go.
    fn wait(&mut self, events: usize) {
        let busy = (self.due.as_secs() / 30) % 2 == 0;
        let rate = if busy { self.rate } else { self.rate / 6.0 };
        self.due += Duration::from_secs_f64(events as f64 / rate);
        let elapsed = self.start.elapsed();
        if self.due > elapsed {
            thread::sleep(self.due - elapsed);
        }
    }
}

/// What grew without bound: RSS or file descriptors rising from the first half of the run
/// after warm-up (the first fifth) to the second half, or the directory above `disk_limit`.
fn growth(samples: &[Sample], disk_limit: u64) -> Vec<String> {
    let mut out = Vec::new();
    for s in samples.iter().filter(|s| s.disk_bytes > disk_limit) {
        out.push(format!("the data directory held {} bytes at {:.0} s (limit {disk_limit})", s.disk_bytes, s.seconds));
    }
    let warm = samples.len() / 5;
    let settled = &samples[warm..];
    if settled.len() < 4 {
        out.push(format!("too few samples after warm-up ({}) to judge growth; run longer", settled.len()));
        return out;
    }
    let (first, second) = settled.split_at(settled.len() / 2);
    let max = |xs: &[Sample], f: fn(&Sample) -> u64| xs.iter().map(f).max().unwrap_or(0);
    let (rss1, rss2) = (max(first, |s| s.rss_kib), max(second, |s| s.rss_kib));
    // 10% plus 8 MiB of allocator noise.
    if rss2 > rss1 + rss1 / 10 + 8 * 1024 {
        out.push(format!("RSS grew from {rss1} KiB (first half) to {rss2} KiB (second half)"));
    }
    let (fd1, fd2) = (max(first, |s| s.fds), max(second, |s| s.fds));
    if fd2 > fd1 + 4 {
        out.push(format!("open file descriptors grew from {fd1} to {fd2}"));
    }
    out
}

fn write_plots(out: &Path, samples: &[Sample]) -> Result<(), Failure> {
    let series = |name: &str, f: fn(&Sample) -> f64| {
        vec![(name.to_owned(), samples.iter().map(|s| (s.seconds, f(s))).collect())]
    };
    let plots = [
        ("soak-rss.svg", line_chart("RSS", "seconds", "MiB", &series("rss", |s| s.rss_kib as f64 / 1024.0))),
        ("soak-fds.svg", line_chart("Open file descriptors", "seconds", "fds", &series("fds", |s| s.fds as f64))),
        (
            "soak-disk.svg",
            line_chart("Data directory", "seconds", "MiB", &series("disk", |s| s.disk_bytes as f64 / 1048576.0)),
        ),
        (
            "soak-lag.svg",
            line_chart("Largest reader lag", "seconds", "events", &series("lag", |s| s.lag_events as f64)),
        ),
    ];
    for (name, svg) in plots {
        let path = out.join(name);
        std::fs::write(&path, svg).map_err(|e| Failure::new(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// This process's resident set, from /proc/self/status.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// This process's open file descriptors.
fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

/// Bytes of every file under `dir`.
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}
