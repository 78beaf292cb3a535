//! What every system's run shares: the producers (`produce`), the progress line and stop flag
//! (`Progress`), joining the producers, the result (`RunResult`), and the harness the
//! networked peers run in (`run_peer`: producer and consumer connections, done once every
//! event published was taken).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::aggregate::{check, Agg, Aggregator};
use super::reading::{value, Reading};
use crate::{BenchArgs, Failure, Format};

/// Readings per publish call.
const BATCH: usize = 64;
/// Progress sampling period.
const SAMPLE: Duration = Duration::from_millis(100);

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

/// The sensors producer `p` of `producers` simulates.
pub(crate) fn my_sensors(p: u32, producers: u32, sensors: u32) -> impl Iterator<Item = u32> {
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

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Producer,
    Archiver,
    Aggregator(u32),
}

/// What a producer connection does with a batch.
pub type SendFn<'a> = Box<dyn FnMut(&[(u32, Vec<u8>)]) -> Result<(), Failure> + 'a>;

/// Runs producers (made by `producer`) and consumers (run by `consume`, which calls its sink
/// with each payload, and `done` with how many it took after each read until it says so) for
/// the bench's duration. Consumers are done once they took everything published: the archiver
/// by itself, the group's members together.
pub(crate) fn run_peer<'p, P, C>(
    args: &BenchArgs,
    system: &str,
    durability: String,
    producer: P,
    consume: C,
) -> Result<RunResult, Failure>
where
    P: Fn(Role) -> Result<SendFn<'p>, Failure> + Sync,
    C: Fn(Role, &mut dyn FnMut(&[u8]), &mut dyn FnMut(u64) -> bool) -> Result<(), Failure> + Sync,
{
    // The total is known once the producers stop.
    let total = AtomicU64::new(u64::MAX);
    let taken_by_group = AtomicU64::new(0);
    let progress = Progress::new();
    let consumer = |role: Role, counter: Option<&AtomicU64>| -> Result<Aggregator, Failure> {
        let mut agg = Aggregator::new(args.sensors);
        let mut taken = 0u64;
        let mut done = |n: u64| {
            let total = total.load(Ordering::Acquire);
            match role {
                Role::Aggregator(_) => taken_by_group.fetch_add(n, Ordering::AcqRel) + n >= total,
                _ => {
                    taken += n;
                    taken >= total
                }
            }
        };
        consume(
            role,
            &mut |payload| {
                agg.take(payload, "sensor-00000".len(), args.format, progress.start);
                if let Some(c) = counter {
                    c.fetch_add(1, Ordering::Relaxed);
                }
            },
            &mut done,
        )?;
        Ok(agg.finish())
    };
    let (expected, archive, aggregators, samples) = thread::scope(|s| {
        let archiver = s.spawn(|| consumer(Role::Archiver, Some(&progress.archived)));
        let workers: Vec<_> =
            (0..args.aggregators).map(|i| s.spawn(move || consumer(Role::Aggregator(i), None))).collect();
        let producers: Vec<_> = (0..args.producers)
            .map(|p| {
                let (progress, producer) = (&progress, &producer);
                s.spawn(move || {
                    let mut send = producer(Role::Producer)?;
                    produce(p, args, progress, |batch| send(batch))
                })
            })
            .collect();
        let samples = progress.watch(Duration::from_secs_f64(args.duration), system);
        let expected = join_producers(producers, args.sensors);
        let sum: u64 = expected.as_ref().map_or(0, |e| e.iter().map(|a| a.count).sum());
        total.store(sum, Ordering::Release);
        let archive = archiver.join().expect("the archiver thread");
        let aggregators: Vec<_> = workers.into_iter().map(|w| w.join().expect("an aggregator thread")).collect();
        Ok::<_, Failure>((expected?, archive?, aggregators.into_iter().collect::<Result<Vec<_>, _>>()?, samples))
    })?;
    let seconds = progress.start.elapsed().as_secs_f64();
    Ok(RunResult::assemble(
        system,
        durability,
        "the server's".into(),
        args,
        &expected,
        archive,
        &aggregators,
        seconds,
        samples,
    ))
}
