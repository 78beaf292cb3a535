//! The IoT ingest pipeline: sensors publish keyed readings into a partitioned topic; a fanout
//! archiver sees every reading; a work-queue group of aggregators keeps per-sensor count, min,
//! max and mean over one-second windows. At the end the aggregates are checked against what
//! the producers published. Runs on ringbus, and with `--peers` on crossbeam-channel.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ringbus::{Bus, Record, Start, SubscribeOptions, TopicConfig};

use crate::inspect::durability_of;
use crate::{BenchArgs, DurabilityArg, Failure, Format, Outcome};

/// Readings per publish call.
const BATCH: usize = 64;
/// Aggregation window.
const WINDOW_NS: u64 = 1_000_000_000;
/// Progress sampling period.
const SAMPLE: Duration = Duration::from_millis(100);

/// One sensor reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reading {
    sensor: u32,
    seq: u32,
    /// Hundredths of a degree Celsius.
    centi: i32,
    /// When it was sent: ns since the pipeline started.
    sent_ns: u64,
}

impl Reading {
    pub(crate) fn encode(&self, format: Format, out: &mut Vec<u8>) {
        out.clear();
        match format {
            Format::Json => {
                let _ = write!(
                    out,
                    r#"{{"sensor":{},"seq":{},"centi":{},"t":{}}}"#,
                    self.sensor, self.seq, self.centi, self.sent_ns
                );
            }
            Format::Binary => {
                out.extend_from_slice(&self.sensor.to_le_bytes());
                out.extend_from_slice(&self.seq.to_le_bytes());
                out.extend_from_slice(&self.centi.to_le_bytes());
                out.extend_from_slice(&0u32.to_le_bytes());
                out.extend_from_slice(&self.sent_ns.to_le_bytes());
            }
        }
    }

    pub(crate) fn decode(format: Format, bytes: &[u8]) -> Option<Reading> {
        match format {
            Format::Binary => {
                let b: &[u8; 24] = bytes.try_into().ok()?;
                let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
                Some(Reading {
                    sensor: u32_at(0),
                    seq: u32_at(4),
                    centi: u32_at(8) as i32,
                    sent_ns: u64::from_le_bytes(b[16..24].try_into().expect("8 bytes")),
                })
            }
            Format::Json => {
                // The fixed shape written by `encode`; any other payload is not a reading.
                let text = std::str::from_utf8(bytes).ok()?;
                let field = |name: &str| -> Option<i64> {
                    let at = text.find(&format!("\"{name}\":"))? + name.len() + 3;
                    let end = text[at..].find([',', '}']).map(|e| at + e)?;
                    text[at..end].parse().ok()
                };
                Some(Reading {
                    sensor: u32::try_from(field("sensor")?).ok()?,
                    seq: u32::try_from(field("seq")?).ok()?,
                    centi: i32::try_from(field("centi")?).ok()?,
                    sent_ns: u64::try_from(field("t")?).ok()?,
                })
            }
        }
    }
}

/// A sensor's value at a sequence number: a deterministic walk between 15 and 30 degrees.
fn value(sensor: u32, seq: u32) -> i32 {
    let mut x = (u64::from(sensor) << 32 | u64::from(seq)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 29;
    1500 + (x % 1501) as i32
}

/// Count, min, max and sum of readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Agg {
    pub(crate) count: u64,
    min: i32,
    max: i32,
    sum: i64,
}

impl Default for Agg {
    fn default() -> Self {
        Agg { count: 0, min: i32::MAX, max: i32::MIN, sum: 0 }
    }
}

impl Agg {
    pub(crate) fn add(&mut self, v: i32) {
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += i64::from(v);
    }

    pub(crate) fn merge(&mut self, o: &Agg) {
        self.count += o.count;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.sum += o.sum;
    }
}

/// One aggregator's state: totals per sensor, and the open window per sensor.
pub(crate) struct Aggregator {
    totals: Vec<Agg>,
    window: Vec<(u64, Agg)>,
    pub(crate) windows_closed: u64,
    pub(crate) events: u64,
    /// Key and payload bytes seen (where the consumer counts them).
    pub(crate) bytes: u64,
    pub(crate) latency: Histogram<u64>,
    /// Payloads that were not readings.
    pub(crate) bad: u64,
}

impl Aggregator {
    pub(crate) fn new(sensors: u32) -> Self {
        Aggregator {
            totals: vec![Agg::default(); sensors as usize],
            window: vec![(u64::MAX, Agg::default()); sensors as usize],
            windows_closed: 0,
            events: 0,
            bytes: 0,
            latency: latency_histogram(),
            bad: 0,
        }
    }

    pub(crate) fn add(&mut self, r: &Reading, now_ns: u64) {
        let Some(total) = self.totals.get_mut(r.sensor as usize) else {
            self.bad += 1;
            return;
        };
        total.add(r.centi);
        let w = r.sent_ns / WINDOW_NS;
        let slot = &mut self.window[r.sensor as usize];
        if slot.0 != w {
            if slot.0 != u64::MAX {
                self.windows_closed += 1;
            }
            *slot = (w, Agg::default());
        }
        slot.1.add(r.centi);
        self.events += 1;
        let _ = self.latency.record(now_ns.saturating_sub(r.sent_ns).max(1000) / 1000);
    }

    /// Decodes and adds one consumed payload (`extra` more bytes, such as its key, counted).
    pub(crate) fn take(&mut self, payload: &[u8], extra: usize, format: Format, start: Instant) {
        let now = start.elapsed().as_nanos() as u64;
        self.bytes += (payload.len() + extra) as u64;
        match Reading::decode(format, payload) {
            Some(r) => self.add(&r, now),
            None => self.bad += 1,
        }
    }

    pub(crate) fn finish(mut self) -> Self {
        self.windows_closed += self.window.iter().filter(|w| w.0 != u64::MAX).count() as u64;
        self
    }
}

fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub system: String,
    pub durability: String,
    pub io_backend: String,
    pub format: Format,
    pub sensors: u32,
    pub partitions: u32,
    pub producers: u32,
    pub aggregators: u32,
    pub events: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub archived: u64,
    pub aggregated: u64,
    pub windows: u64,
    /// Publish-to-consume latency of every reading, archiver and aggregators, in µs.
    pub latency: Histogram<u64>,
    /// (seconds since start, events/s published in the sample before).
    pub throughput: Vec<(f64, f64)>,
    /// None when the aggregates match what was published.
    pub mismatch: Option<String>,
}

impl RunResult {
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.seconds
    }

    pub fn latency_us(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q / 100.0) as f64
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "system": self.system,
            "durability": self.durability,
            "io_backend": self.io_backend,
            "format": format!("{:?}", self.format).to_lowercase(),
            "sensors": self.sensors,
            "partitions": self.partitions,
            "producers": self.producers,
            "aggregators": self.aggregators,
            "events": self.events,
            "bytes": self.bytes,
            "seconds": self.seconds,
            "events_per_s": self.rate(),
            "mb_per_s": self.bytes as f64 / self.seconds / 1e6,
            "latency_us": {
                "p50": self.latency_us(50.0),
                "p99": self.latency_us(99.0),
                "p99_9": self.latency_us(99.9),
                "max": self.latency.max(),
            },
            "archived": self.archived,
            "aggregated": self.aggregated,
            "windows": self.windows,
            "aggregates_match": self.mismatch.is_none(),
            "mismatch": self.mismatch,
            "throughput": self.throughput.iter().map(|&(t, r)| serde_json::json!([t, r])).collect::<Vec<_>>(),
        })
    }
}

/// Checks the merged aggregates against what the producers published.
pub(crate) fn check(expected: &[Agg], aggregators: &[Aggregator], archived: u64) -> Option<String> {
    let published: u64 = expected.iter().map(|a| a.count).sum();
    let mut merged = vec![Agg::default(); expected.len()];
    for a in aggregators {
        if a.bad > 0 {
            return Some(format!("{} readings could not be decoded", a.bad));
        }
        for (m, t) in merged.iter_mut().zip(&a.totals) {
            m.merge(t);
        }
    }
    if archived != published {
        return Some(format!("the archiver saw {archived} readings of {published} published"));
    }
    expected
        .iter()
        .zip(&merged)
        .position(|(e, m)| e != m)
        .map(|s| format!("sensor {s}: published {:?}, aggregated {:?}", expected[s], merged[s]))
}

/// Joins the producers: what they published together, or the first failure.
pub(crate) fn join_producers(
    producers: Vec<thread::ScopedJoinHandle<'_, Result<Vec<Agg>, Failure>>>,
    sensors: u32,
) -> Result<Vec<Agg>, Failure> {
    let mut expected = vec![Agg::default(); sensors as usize];
    let mut failure = None;
    for p in producers {
        match p.join().expect("a producer thread") {
            Ok(e) => expected.iter_mut().zip(&e).for_each(|(a, b)| a.merge(b)),
            Err(f) => failure = failure.or(Some(f)),
        }
    }
    failure.map_or(Ok(expected), Err)
}

impl RunResult {
    /// The result of a run: what the producers published against what the archiver and the
    /// aggregators took.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn assemble(
        system: &str,
        durability: String,
        io_backend: String,
        args: &BenchArgs,
        expected: &[Agg],
        archive: Aggregator,
        aggregators: &[Aggregator],
        seconds: f64,
        throughput: Vec<(f64, f64)>,
    ) -> RunResult {
        let mut latency = archive.latency.clone();
        for a in aggregators {
            latency.add(&a.latency).expect("same bounds");
        }
        let mismatch = check(expected, aggregators, archive.events)
            .or_else(|| (archive.bad > 0).then(|| format!("the archiver could not decode {} readings", archive.bad)));
        RunResult {
            system: system.to_owned(),
            durability,
            io_backend,
            format: args.format,
            sensors: args.sensors,
            partitions: args.partitions,
            producers: args.producers,
            aggregators: args.aggregators,
            events: expected.iter().map(|a| a.count).sum(),
            bytes: archive.bytes,
            seconds,
            archived: archive.events,
            aggregated: aggregators.iter().map(|a| a.events).sum(),
            windows: aggregators.iter().map(|a| a.windows_closed).sum(),
            latency,
            throughput,
            mismatch,
        }
    }
}

/// The sensors producer `p` of `producers` simulates.
fn my_sensors(p: u32, producers: u32, sensors: u32) -> impl Iterator<Item = u32> {
    (p..sensors).step_by(producers as usize)
}

/// Runs producer `p` until `stop`: returns what it published, per sensor.
pub(crate) fn produce(
    p: u32,
    args: &BenchArgs,
    progress: &Progress,
    mut send: impl FnMut(&[(u32, Vec<u8>)]) -> Result<(), Failure>,
) -> Result<Vec<Agg>, Failure> {
    let (start, stop, published) = (progress.start, &progress.stop, &progress.published);
    let mut expected = vec![Agg::default(); args.sensors as usize];
    let mine: Vec<u32> = my_sensors(p, args.producers, args.sensors).collect();
    if mine.is_empty() {
        return Ok(expected);
    }
    let mut seqs = vec![0u32; mine.len()];
    let mut batch: Vec<(u32, Vec<u8>)> = (0..BATCH).map(|_| (0, Vec::with_capacity(64))).collect();
    let rate = args.rate as f64 / f64::from(args.producers);
    let mut sent = 0u64;
    let mut next = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let sent_ns = start.elapsed().as_nanos() as u64;
        for slot in batch.iter_mut() {
            let i = next;
            next = if next + 1 == mine.len() { 0 } else { next + 1 };
            let sensor = mine[i];
            let seq = seqs[i];
            seqs[i] += 1;
            let r = Reading { sensor, seq, centi: value(sensor, seq), sent_ns };
            r.encode(args.format, &mut slot.1);
            slot.0 = sensor;
            expected[sensor as usize].add(r.centi);
        }
        send(&batch)?;
        sent += BATCH as u64;
        published.fetch_add(BATCH as u64, Ordering::Relaxed);
        if rate > 0.0 {
            let due = Duration::from_secs_f64(sent as f64 / rate);
            let elapsed = start.elapsed();
            if due > elapsed {
                thread::sleep(due - elapsed);
            }
        }
    }
    Ok(expected)
}

/// What a run's threads share: when it started, the producers' stop flag, and the counts
/// the progress line shows.
pub(crate) struct Progress {
    pub(crate) start: Instant,
    pub(crate) stop: AtomicBool,
    pub(crate) published: AtomicU64,
    pub(crate) archived: AtomicU64,
}

impl Progress {
    /// A run starting now.
    pub(crate) fn new() -> Self {
        Progress {
            start: Instant::now(),
            stop: AtomicBool::new(false),
            published: AtomicU64::new(0),
            archived: AtomicU64::new(0),
        }
    }

    /// Shows a progress line (rate and lag, on a terminal) and samples the ingest rate until
    /// `duration` has passed since the start, then
    /// tells the producers to stop. Returns the (seconds, events/s) samples.
    pub(crate) fn watch(&self, duration: Duration, label: &str) -> Vec<(f64, f64)> {
        let start = self.start;
        let bar = indicatif::ProgressBar::new(duration.as_millis() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {elapsed:>3} {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_owned());
        let mut samples = Vec::new();
        let (mut last_t, mut last_n) = (0.0, 0u64);
        while start.elapsed() < duration {
            thread::sleep(SAMPLE.min(duration.saturating_sub(start.elapsed())));
            let t = start.elapsed().as_secs_f64();
            let n = self.published.load(Ordering::Relaxed);
            let rate = (n - last_n) as f64 / (t - last_t).max(1e-9);
            samples.push((t, rate));
            (last_t, last_n) = (t, n);
            let lag = n.saturating_sub(self.archived.load(Ordering::Relaxed));
            bar.set_position(start.elapsed().as_millis() as u64);
            bar.set_message(format!("{:.2} M events/s, lag {lag} events", rate / 1e6));
        }
        bar.finish_and_clear();
        self.stop.store(true, Ordering::Relaxed);
        samples
    }
}

/// Runs the pipeline on ringbus in `dir`.
fn run_ringbus(args: &BenchArgs, dir: &std::path::Path) -> Result<RunResult, Failure> {
    let bus = Bus::open(dir)?;
    let durability = durability_of(args.durability);
    let persisted = durability.is_persisted();
    let mut config = TopicConfig::new()
        .partitions(args.partitions)
        .durability(durability)
        .capacity(1 << 20)
        .max_payload(256)
        .max_key(32);
    if persisted {
        // Bounded disk use however long it runs.
        config = config.segment_bytes(64 << 20).retention_bytes(256 << 20);
    }
    let topic = match bus.topic("readings") {
        Some(t) => t,
        None => bus.create_topic("readings", config)?,
    };
    // Readers join before the sensors start, at the end of what the topic already holds.
    let mut archive = topic.subscribe(SubscribeOptions::new().start(Start::Latest))?;
    let group = topic.group("aggregators", Start::Latest)?;
    let members: Vec<_> = (0..args.aggregators).map(|_| group.join()).collect();
    let keys: Vec<String> = (0..args.sensors).map(|s| format!("sensor-{s:05}")).collect();
    let keys = &keys;
    let progress = Progress::new();
    let progress = &progress;
    let (expected, archive, aggregators, samples, seconds) = thread::scope(|s| {
        let producers: Vec<_> = (0..args.producers)
            .map(|p| {
                let topic = topic.clone();
                s.spawn(move || {
                    let mut publisher = topic.publisher()?;
                    produce(p, args, progress, |batch| {
                        let records: Vec<Record<'_>> = batch
                            .iter()
                            .map(|(sensor, payload)| Record::new(payload).key(keys[*sensor as usize].as_bytes()))
                            .collect();
                        publisher.publish_batch(&records)?;
                        Ok(())
                    })
                })
            })
            .collect();
        let archiver = s.spawn(move || {
            let mut agg = Aggregator::new(args.sensors);
            loop {
                let before = agg.events + agg.bad;
                let result = archive.poll_batch(4096, Some(Duration::from_millis(50)), |e| {
                    agg.take(e.payload, e.key.map_or(0, <[u8]>::len), args.format, progress.start);
                });
                progress.archived.fetch_add(agg.events + agg.bad - before, Ordering::Relaxed);
                match result {
                    Ok(_) => {}
                    Err(ringbus::Error::Closed) => return Ok(agg.finish()),
                    Err(e) => return Err(Failure::from(e)),
                }
            }
        });
        let workers: Vec<_> = members
            .into_iter()
            .map(|mut member| {
                s.spawn(move || {
                    let mut agg = Aggregator::new(args.sensors);
                    loop {
                        match member.poll_batch(4096, Some(Duration::from_millis(50)), |e| {
                            agg.take(e.payload, 0, args.format, progress.start);
                        }) {
                            Ok(_) => {}
                            Err(ringbus::Error::Closed) => return Ok(agg.finish()),
                            Err(e) => return Err(Failure::from(e)),
                        }
                    }
                })
            })
            .collect();
        let samples = progress.watch(Duration::from_secs_f64(args.duration), "ringbus");
        let expected = join_producers(producers, args.sensors);
        // Everything published is durable, then the readers drain and end.
        let flushed = topic.flush(None);
        topic.close();
        let archive = archiver.join().expect("the archiver thread");
        let aggregators: Vec<_> = workers.into_iter().map(|w| w.join().expect("an aggregator thread")).collect();
        let seconds = progress.start.elapsed().as_secs_f64();
        flushed?;
        Ok::<_, Failure>((
            expected?,
            archive?,
            aggregators.into_iter().collect::<Result<Vec<_>, _>>()?,
            samples,
            seconds,
        ))
    })?;
    let durability = match args.durability {
        DurabilityArg::Memory => "memory".into(),
        DurabilityArg::Async => "async (fsync within 10 ms)".into(),
        DurabilityArg::Sync => "sync (acknowledged once fsynced)".into(),
    };
    let io_backend = topic.stats().io_backend.unwrap_or("none (memory)").to_owned();
    let result = RunResult::assemble(
        "ringbus",
        durability,
        io_backend,
        args,
        &expected,
        archive,
        &aggregators,
        seconds,
        samples,
    );
    bus.close();
    Ok(result)
}

/// The same pipeline on crossbeam-channel: producers send each reading to the archiver's
/// channel and to a shared work channel the aggregators take from (in memory only).
fn run_crossbeam(args: &BenchArgs) -> Result<RunResult, Failure> {
    type Item = Arc<(u32, Vec<u8>)>;
    let (archive_tx, archive_rx) = crossbeam_channel::bounded::<Item>(1 << 16);
    let (work_tx, work_rx) = crossbeam_channel::bounded::<Item>(1 << 16);
    let progress = Progress::new();
    let progress = &progress;
    let (expected, archive, aggregators, samples) = thread::scope(|s| {
        let producers: Vec<_> = (0..args.producers)
            .map(|p| {
                let (archive_tx, work_tx) = (archive_tx.clone(), work_tx.clone());
                s.spawn(move || {
                    produce(p, args, progress, |batch| {
                        for (sensor, payload) in batch {
                            let item = Arc::new((*sensor, payload.clone()));
                            archive_tx.send(item.clone()).map_err(|_| Failure::new("archiver gone"))?;
                            work_tx.send(item).map_err(|_| Failure::new("aggregators gone"))?;
                        }
                        Ok(())
                    })
                })
            })
            .collect();
        drop((archive_tx, work_tx));
        let archiver = s.spawn(move || {
            let mut agg = Aggregator::new(args.sensors);
            for item in archive_rx {
                agg.take(&item.1, "sensor-00000".len(), args.format, progress.start);
                progress.archived.fetch_add(1, Ordering::Relaxed);
            }
            agg.finish()
        });
        let workers: Vec<_> = (0..args.aggregators)
            .map(|_| {
                let rx = work_rx.clone();
                s.spawn(move || {
                    let mut agg = Aggregator::new(args.sensors);
                    for item in rx {
                        agg.take(&item.1, 0, args.format, progress.start);
                    }
                    agg.finish()
                })
            })
            .collect();
        let samples = progress.watch(Duration::from_secs_f64(args.duration), "crossbeam");
        let expected = join_producers(producers, args.sensors);
        let archive = archiver.join().expect("the archiver thread");
        let aggregators: Vec<_> = workers.into_iter().map(|w| w.join().expect("an aggregator thread")).collect();
        Ok::<_, Failure>((expected?, archive, aggregators, samples))
    })?;
    let seconds = progress.start.elapsed().as_secs_f64();
    let mut result = RunResult::assemble(
        "crossbeam-channel",
        "memory".into(),
        "none (memory)".into(),
        args,
        &expected,
        archive,
        &aggregators,
        seconds,
        samples,
    );
    result.partitions = 1;
    Ok(result)
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
    let result = run_ringbus(args, &dir.path)?;
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
    let mut results = vec![run_ringbus(args, &dir.path)?];
    if args.peers {
        results.push(run_crossbeam(args)?);
        for (name, addr, run) in [
            ("Redis", &args.redis, crate::peers::run_redis as fn(&BenchArgs, &str) -> Result<RunResult, Failure>),
            ("NATS", &args.nats, crate::peers::run_nats),
        ] {
            if crate::peers::reachable(addr) {
                results.push(run(args, addr)?);
            } else {
                eprintln!(
                    "{name}: nothing listens at {addr}; left out (benches/peers.sh installs and starts the servers)"
                );
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
        crate::report::write(report, &results)?;
        if !args.json {
            println!("\nreport: {}", report.display());
        }
    }
    Ok(if results.iter().all(|r| r.mismatch.is_none()) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_round_trip_in_both_formats() {
        let r = Reading { sensor: 9_999, seq: 12, centi: -1234, sent_ns: 5_000_000_123 };
        let mut buf = Vec::new();
        for format in [Format::Json, Format::Binary] {
            r.encode(format, &mut buf);
            assert_eq!(Reading::decode(format, &buf), Some(r), "{format:?}");
        }
        assert_eq!(Reading::decode(Format::Json, b"{\"sensor\":1}"), None);
        assert_eq!(Reading::decode(Format::Binary, b"short"), None);
    }

    #[test]
    fn a_wrong_aggregate_is_reported() {
        let mut expected = vec![Agg::default(); 2];
        expected[0].add(1500);
        expected[1].add(1600);
        let mut a = Aggregator::new(2);
        a.add(&Reading { sensor: 0, seq: 0, centi: 1500, sent_ns: 0 }, 10);
        assert!(check(&expected, &[a], 2).unwrap().contains("sensor 1"));
        let mut b = Aggregator::new(2);
        b.add(&Reading { sensor: 0, seq: 0, centi: 1500, sent_ns: 0 }, 10);
        b.add(&Reading { sensor: 1, seq: 0, centi: 1600, sent_ns: 0 }, 10);
        assert_eq!(check(&expected, &[b], 2), None);
    }
}
