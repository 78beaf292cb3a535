//! [`Bus::metrics`](crate::Bus::metrics): every counter of a bus in the OpenMetrics text
//! format (the format Prometheus scrapes), encoded by `prometheus-client`.
//!
//! Nothing here runs on a publish or read path: rendering takes the same snapshot as
//! [`Topic::stats`](crate::Topic::stats), whose counters their single writers keep anyway,
//! plus the fsync-latency histogram the persister fills once per fsync. The names and labels
//! are part of the API (README, "Metrics"): a family keeps its name, type and labels.
#![deny(unsafe_code)]

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{text, DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::stats::{ReaderKind, TopicStats};
use super::topic::Topic;
use crate::follow::FollowedPartition;

/// One topic's snapshot: its stats and, for persisted partitions, their fsync histograms.
#[derive(Debug)]
pub(crate) struct TopicSnapshot {
    stats: TopicStats,
    fsync_seconds: Vec<Option<Histogram>>,
}

impl TopicSnapshot {
    pub(crate) fn of(topic: &Topic) -> Self {
        let inner = &topic.inner;
        let fsync_seconds = (0..inner.partitions()).map(|p| inner.log(p).map(|log| log.fsync_histogram())).collect();
        Self { stats: inner.stats(), fsync_seconds }
    }
}

/// What one scrape encodes.
#[derive(Debug)]
struct Snapshot {
    topics: Vec<TopicSnapshot>,
    /// A whole bus (with its `ringbus_topics` gauge), not one topic.
    bus: bool,
}

/// What a follower reads of another process's topics: per topic, its partitions' files.
#[derive(Debug)]
struct FilesSnapshot {
    topics: Vec<(String, Vec<FollowedPartition>)>,
}

/// A metric family's samples: labels and value.
enum Samples<L> {
    Counters(Vec<(L, u64)>),
    Gauges(Vec<(L, i64)>),
}

/// Writes one family: its descriptor, then each labelled sample. Families without samples
/// are left out.
fn family<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: Samples<L>,
) -> fmt::Result {
    let kind = match &samples {
        Samples::Counters(s) if !s.is_empty() => MetricType::Counter,
        Samples::Gauges(s) if !s.is_empty() => MetricType::Gauge,
        _ => return Ok(()),
    };
    let mut metric = enc.encode_descriptor(name, help, None, kind)?;
    match samples {
        Samples::Counters(s) => {
            for (labels, v) in s {
                ConstCounter::new(v).encode(metric.encode_family(&labels)?)?;
            }
        }
        Samples::Gauges(s) => {
            for (labels, v) in s {
                ConstGauge::new(v).encode(metric.encode_family(&labels)?)?;
            }
        }
    }
    Ok(())
}

type TopicLabel = [(&'static str, String); 1];
type PartitionLabels = [(&'static str, String); 2];

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let topics = &self.topics;
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        if self.bus {
            let metric = enc.encode_descriptor("ringbus_topics", "Topics the bus holds.", None, MetricType::Gauge)?;
            ConstGauge::new(topics.len() as i64).encode(metric)?;
        }
        let by_topic = |f: &dyn Fn(&TopicStats) -> u64| -> Vec<(TopicLabel, u64)> {
            topics.iter().map(|t| ([("topic", t.stats.name.clone())], f(&t.stats))).collect()
        };
        family(
            &mut enc,
            "ringbus_parked_waits",
            "Times a reader, producer or Sync publisher of the topic went to sleep (the Park strategy's last stage).",
            Samples::Counters(by_topic(&|s| s.sleeps)),
        )?;
        family(&mut enc, "ringbus_late_wakeups", "Sleeps the 100 ms safety net ended with their condition already true (wake-ups the protocol failed to deliver; always 0).", Samples::Counters(by_topic(&|s| s.late_wakeups)))?;
        family(
            &mut enc,
            "ringbus_task_wakes",
            "Async tasks (and ticket futures) woken by the topic's producers, readers and persister.",
            Samples::Counters(by_topic(&|s| s.task_wakes)),
        )?;

        // Per partition.
        let parts = |persisted: bool| {
            topics.iter().flat_map(move |t| {
                t.stats
                    .partitions
                    .iter()
                    .filter(move |p| !persisted || p.log.is_some())
                    .map(move |p| (t, p, [("topic", t.stats.name.clone()), ("partition", p.partition.to_string())]))
            })
        };
        let counters = |f: &dyn Fn(&super::stats::PartitionStats) -> u64| -> Samples<PartitionLabels> {
            Samples::Counters(parts(false).map(|(_, p, l)| (l, f(p))).collect())
        };
        let gauges = |f: &dyn Fn(&super::stats::PartitionStats) -> u64| -> Samples<PartitionLabels> {
            Samples::Gauges(parts(false).map(|(_, p, l)| (l, gauge(f(p)))).collect())
        };
        family(&mut enc, "ringbus_published", "Events published to the partition.", counters(&|p| p.published))?;
        family(
            &mut enc,
            "ringbus_full_waits",
            "Publish calls that found the partition's ring full and waited (or failed, without waiting).",
            counters(&|p| p.full_waits),
        )?;
        family(
            &mut enc,
            "ringbus_duplicates",
            "Idempotent publishes dropped as duplicates.",
            counters(&|p| p.duplicates),
        )?;
        family(
            &mut enc,
            "ringbus_next_offset",
            "The offset the partition's next event gets.",
            gauges(&|p| p.next_offset),
        )?;
        family(
            &mut enc,
            "ringbus_earliest_offset",
            "The oldest offset the partition's ring holds.",
            gauges(&|p| p.earliest_offset),
        )?;
        family(
            &mut enc,
            "ringbus_gates",
            "Readers, groups and the persister that producers wait for, in the partition.",
            gauges(&|p| p.gates as u64),
        )?;

        // Per persisted partition.
        let log_gauges = |f: &dyn Fn(&super::stats::PartitionStats, &crate::LogStats) -> u64| {
            Samples::Gauges(
                parts(true).map(|(_, p, l)| (l, gauge(f(p, p.log.as_ref().expect("persisted"))))).collect::<Vec<_>>(),
            )
        };
        family(
            &mut enc,
            "ringbus_written_offset",
            "Everything below this offset is in segment files.",
            log_gauges(&|_, l| l.written_offset),
        )?;
        family(
            &mut enc,
            "ringbus_durable_offset",
            "Everything below this offset is durable (fsynced).",
            log_gauges(&|_, l| l.durable_offset),
        )?;
        family(
            &mut enc,
            "ringbus_disk_bytes",
            "Bytes of the partition's log kept in segment files (headers aside).",
            log_gauges(&|_, l| l.written_offset.saturating_sub(l.earliest_offset)),
        )?;
        family(&mut enc, "ringbus_segments", "Segment files of the partition.", log_gauges(&|_, l| l.segments as u64))?;
        family(
            &mut enc,
            "ringbus_persister_backlog_bytes",
            "Bytes published (or claimed) that the persister has not written yet.",
            log_gauges(&|p, l| p.next_offset.saturating_sub(l.written_offset)),
        )?;
        family(
            &mut enc,
            "ringbus_poisoned",
            "1 once a write or fsync of the partition failed (it accepts no more events).",
            log_gauges(&|_, l| u64::from(l.poisoned.is_some())),
        )?;
        family(
            &mut enc,
            "ringbus_truncated_on_open_bytes",
            "Bytes of a torn tail recovery cut off when the bus opened.",
            log_gauges(&|_, l| l.truncated_on_open),
        )?;
        family(
            &mut enc,
            "ringbus_fsyncs",
            "fsyncs of the partition's segment files since the bus opened.",
            Samples::Counters(parts(true).map(|(_, p, l)| (l, p.log.as_ref().expect("persisted").fsyncs)).collect()),
        )?;
        let histograms: Vec<_> = topics
            .iter()
            .flat_map(|t| {
                t.fsync_seconds.iter().enumerate().filter_map(move |(p, h)| {
                    h.as_ref().map(|h| ([("topic", t.stats.name.clone()), ("partition", p.to_string())], h))
                })
            })
            .collect();
        if !histograms.is_empty() {
            let mut metric = enc.encode_descriptor(
                "ringbus_fsync_seconds",
                "How long each durable round took: a Sync topic's write and fsync, an Async topic's fsync.",
                None,
                MetricType::Histogram,
            )?;
            for (labels, h) in histograms {
                h.encode(metric.encode_family(&labels)?)?;
            }
        }

        // Per reader: subscriptions by name, groups by group.
        let readers: Vec<_> = topics
            .iter()
            .flat_map(|t| {
                t.stats.readers.iter().map(move |r| {
                    let key = match r.kind {
                        ReaderKind::Group { .. } => "group",
                        _ => "reader",
                    };
                    ([("topic", t.stats.name.clone()), (key, r.name.clone())], r)
                })
            })
            .collect();
        let reader_counters = |f: &dyn Fn(&super::stats::ReaderStats) -> u64| {
            Samples::Counters(readers.iter().map(|(l, r)| (l.clone(), f(r))).collect::<Vec<_>>())
        };
        let reader_gauges = |f: &dyn Fn(&super::stats::ReaderStats) -> u64| {
            Samples::Gauges(readers.iter().map(|(l, r)| (l.clone(), gauge(f(r)))).collect::<Vec<_>>())
        };
        family(
            &mut enc,
            "ringbus_reader_delivered",
            "Events handed to the application by the subscription or group.",
            reader_counters(&|r| r.delivered),
        )?;
        family(
            &mut enc,
            "ringbus_reader_dropped",
            "Events a DropOldest subscription lost to lapping.",
            reader_counters(&|r| r.dropped),
        )?;
        family(
            &mut enc,
            "ringbus_reader_lag_events",
            "Events published but not yet delivered to the reader, over its partitions.",
            reader_gauges(&|r| r.lag),
        )?;
        family(
            &mut enc,
            "ringbus_reader_lag_bytes",
            "Bytes of the log between the reader and its partitions' ends.",
            reader_gauges(&|r| r.lag_bytes),
        )?;
        let members: Vec<_> = readers
            .iter()
            .filter_map(|(l, r)| match r.kind {
                ReaderKind::Group { members, .. } => Some((l.clone(), members as i64)),
                _ => None,
            })
            .collect();
        family(&mut enc, "ringbus_group_members", "Members joined to the group.", Samples::Gauges(members))?;
        Ok(())
    }
}

impl Collector for FilesSnapshot {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> fmt::Result {
        let rows = || {
            self.topics.iter().flat_map(|(name, parts)| {
                parts.iter().map(move |p| ([("topic", name.clone()), ("partition", p.partition.to_string())], p))
            })
        };
        let gauges = |f: &dyn Fn(&FollowedPartition) -> u64| -> Samples<PartitionLabels> {
            Samples::Gauges(rows().map(|(l, p)| (l, i64::try_from(f(p)).unwrap_or(i64::MAX))).collect())
        };
        // The same families, names and meanings as a bus's, from the files alone.
        family(
            &mut enc,
            "ringbus_next_offset",
            "The offset the partition's next event gets (the end of the last whole frame written).",
            gauges(&|p| p.next_offset),
        )?;
        family(
            &mut enc,
            "ringbus_earliest_offset",
            "The oldest offset kept in the partition's segment files.",
            gauges(&|p| p.earliest_offset),
        )?;
        family(
            &mut enc,
            "ringbus_durable_offset",
            "Everything below this offset is durable (fsynced), as the active segment's header says.",
            gauges(&|p| p.durable_offset),
        )?;
        family(
            &mut enc,
            "ringbus_disk_bytes",
            "Bytes of the partition's log kept in segment files (headers aside).",
            gauges(&|p| p.next_offset.saturating_sub(p.earliest_offset)),
        )?;
        family(&mut enc, "ringbus_segments", "Segment files of the partition.", gauges(&|p| p.segments as u64))?;
        Ok(())
    }
}

/// Renders `collector` as OpenMetrics text, ending with `# EOF`.
fn encode(collector: impl Collector) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector));
    let mut out = String::new();
    text::encode(&mut out, &registry).expect("writing to a String cannot fail");
    out
}

/// Renders `topics` (in the order given); `bus`: they are a whole bus's.
pub(crate) fn render(topics: Vec<TopicSnapshot>, bus: bool) -> String {
    encode(Snapshot { topics, bus })
}

/// Renders what a follower read of `topics`' files.
pub(crate) fn render_files(topics: Vec<(String, Vec<FollowedPartition>)>) -> String {
    encode(FilesSnapshot { topics })
}
