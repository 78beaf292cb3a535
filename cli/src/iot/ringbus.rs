//! The pipeline on ringbus: a persisted (or memory) topic keyed by sensor, a fanout archiver
//! subscription and a work-queue group of aggregators, on an embedded bus.

use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use ringbus::{Bus, Record, Start, SubscribeOptions, TopicConfig};

use super::aggregate::Agg;
use super::aggregate::Aggregator;
use super::run::{join_producers, produce, Progress, RunResult};
use crate::inspect::durability_of;
use crate::{BenchArgs, DurabilityArg, Failure};

/// Runs the pipeline on ringbus in `dir`.
pub(crate) fn run(args: &BenchArgs, dir: &std::path::Path) -> Result<RunResult, Failure> {
    let bus = Bus::open(dir)?;
    let _metrics = match &args.metrics_addr {
        Some(addr) => Some(crate::serve::MetricsServer::start(bus.clone(), crate::serve::parse_addr(addr)?)?),
        None => None,
    };
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
                s.spawn(move || publish_readings(&topic, p, args, keys, progress, |_| {}))
            })
            .collect();
        let archiver = s.spawn(move || archive_readings(&mut archive, args, progress));
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

/// Producer `p`'s loop (see `produce`): publishes each batch of readings keyed by sensor,
/// calling `before_send` with the batch's size first (the soak paces itself there).
pub(super) fn publish_readings(
    topic: &ringbus::Topic,
    p: u32,
    args: &BenchArgs,
    keys: &[String],
    progress: &Progress,
    mut before_send: impl FnMut(usize),
) -> Result<Vec<Agg>, Failure> {
    let mut publisher = topic.publisher()?;
    produce(p, args, progress, |batch| {
        before_send(batch.len());
        let records: Vec<Record<'_>> =
            batch.iter().map(|(sensor, payload)| Record::new(payload).key(keys[*sensor as usize].as_bytes())).collect();
        publisher.publish_batch(&records)?;
        Ok(())
    })
}

/// The fanout archiver: aggregates every reading until the topic closes, counting them in
/// `progress`.
pub(super) fn archive_readings(
    archive: &mut ringbus::Subscription,
    args: &BenchArgs,
    progress: &Progress,
) -> Result<Aggregator, Failure> {
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
}
