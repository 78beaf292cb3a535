//! The pipeline on crossbeam-channel, in memory: each reading to the archiver's channel and to
//! a work channel the aggregators share.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::aggregate::Aggregator;
use super::run::{join_producers, produce, Progress, RunResult};
use crate::{BenchArgs, Failure};

/// The same pipeline on crossbeam-channel: producers send each reading to the archiver's
/// channel and to a shared work channel the aggregators take from (in memory only).
pub(crate) fn run(args: &BenchArgs) -> Result<RunResult, Failure> {
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
