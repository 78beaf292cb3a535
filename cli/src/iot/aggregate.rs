//! What the consumers compute: per-sensor count, min, max and sum (exact, in hundredths of a
//! degree) and one-second windows, with publish-to-consume latency; and the check that the
//! merged aggregates equal what the producers published.

use std::time::Instant;

use hdrhistogram::Histogram;

use super::reading::Reading;
use crate::Format;

/// Aggregation window.
const WINDOW_NS: u64 = 1_000_000_000;

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

pub(crate) fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
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

#[cfg(test)]
mod tests {
    use super::*;

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
