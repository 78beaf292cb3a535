//! Persisted topics: building a topic from what recovery found on disk, and starting its
//! persister. The topic is made here, in `bus`; `log` only recovers partitions and runs the
//! persister over the rings it is handed.
#![deny(unsafe_code)]

use std::path::Path;

use super::event::event_from_bytes;
use super::topic::TopicInner;
use crate::config::{TimestampSource, TopicConfig};
use crate::error::Error;
use crate::log::io::IoChoice;
use crate::log::reader::LogReader;
use crate::log::recovery::{recover_partition, Recovered};
use crate::log::shared::LogShared;
use crate::log::{persister, timeindex};
use crate::sync::{thread, Arc};

/// Opens (or creates) persisted topic `name` in `dir` with `config`: recovers every partition,
/// builds rings that start where the logs end, fills the idempotent producers' tables from the
/// last `dedup_window` of the logs, and starts the topic's persister thread.
pub(crate) fn open_topic(
    dir: &Path,
    name: &str,
    config: TopicConfig,
    io: &IoChoice,
) -> Result<(Arc<TopicInner>, thread::JoinHandle<()>), Error> {
    let topic_dir = dir.join(name);
    let mut recovered: Vec<Recovered> = Vec::with_capacity(config.partitions as usize);
    for p in 0..config.partitions {
        recovered.push(recover_partition(&topic_dir.join(p.to_string()), config.max_frame(), config.segment_bytes)?);
    }
    let logs: Vec<Arc<LogShared>> = recovered
        .iter()
        .enumerate()
        .map(|(p, r)| {
            let dir = topic_dir.join(p.to_string());
            Arc::new(LogShared::new(p as u32, dir, config.max_frame(), r.segments.clone(), r.next, r.truncated))
        })
        .collect();
    let starts: Vec<u64> = recovered.iter().map(|r| r.next).collect();
    let inner = Arc::new(TopicInner::with_logs(name.to_owned(), config.clone(), &starts, logs.clone(), io.backend));
    remember_producers(&inner)?;
    let handle = persister::spawn(name, inner.parts.clone(), config, &logs, recovered, io)?;
    Ok((inner, handle))
}

/// Fills each partition's idempotent-producer table from the log: the records of the last
/// `dedup_window` (by event timestamp, found through the time index).
fn remember_producers(topic: &TopicInner) -> Result<(), Error> {
    let now = crate::clock::now(TimestampSource::Precise);
    let window = topic.config.dedup_window;
    let since = now.saturating_sub(window.as_nanos() as u64);
    for (p, log) in topic.logs.as_ref().expect("persisted").iter().enumerate() {
        let from = timeindex::seek(log, since)?.max(log.earliest());
        let mut reader = LogReader::at(log.clone(), from)?;
        let mut frame = Vec::new();
        let mut table = topic.dedup[p].lock();
        loop {
            frame.clear();
            let Some((offset, len)) = reader.next_event(&mut frame)? else { break };
            let event = event_from_bytes(offset, p as u32, &frame[..len]);
            if let Some(ps) = event.producer {
                table.accept(ps.producer, ps.sequence, offset, event.timestamp.max(since), window);
            }
        }
    }
    Ok(())
}
