//! The scenarios on ringbus: its default configuration (Park waits, coarse timestamps, any
//! number of publishers), or with one publisher at a time (`Producers::Single`).

use std::thread;
use std::time::{Duration, Instant};

use ringbus::{Bus, Error, Producers, Record, Start, SubscribeOptions, TopicConfig};

use crate::{seq_of, stamp, Outcome, Scenario};

/// Ring bytes giving about `slots` events of `P`-byte payloads in flight.
fn capacity_for<const P: usize>(slots: usize) -> usize {
    (slots * (24 + P).next_multiple_of(8)).next_power_of_two().max(1 << 16)
}

/// The two reader kinds, so one consume loop serves both (statically dispatched).
trait Reader {
    fn batch<F: FnMut(ringbus::EventRef<'_>)>(&mut self, f: F) -> Result<usize, Error>;
}

impl Reader for ringbus::Subscription {
    fn batch<F: FnMut(ringbus::EventRef<'_>)>(&mut self, f: F) -> Result<usize, Error> {
        self.poll_batch(1024, None, f)
    }
}

impl Reader for ringbus::Member {
    fn batch<F: FnMut(ringbus::EventRef<'_>)>(&mut self, f: F) -> Result<usize, Error> {
        self.poll_batch(1024, None, f)
    }
}

/// Polls until the topic is closed and drained: (events, sum of sequence numbers).
fn consume(reader: &mut impl Reader) -> (u64, u64) {
    let (mut n, mut sum) = (0u64, 0u64);
    loop {
        match reader.batch(|e| {
            n += 1;
            sum = sum.wrapping_add(seq_of(e.payload));
        }) {
            Ok(_) => {}
            Err(Error::Closed) => return (n, sum),
            Err(e) => panic!("{e}"),
        }
    }
}

/// Runs `scenario` with `events` per producer, `batch` events per publish call, on a topic in
/// its default configuration but for ring size and `producers`.
pub fn run<const P: usize>(
    scenario: Scenario,
    events: u64,
    batch: usize,
    slots: usize,
    producers: Producers,
) -> Outcome {
    let bus = Bus::new();
    let config = TopicConfig::new().capacity(capacity_for::<P>(slots)).max_payload(256).max_key(0).producers(producers);
    let topic = bus.create_topic("bench", config).expect("topic");
    let mut consumers = Vec::new();
    match scenario {
        Scenario::WorkQueue => {
            let group = topic.group("workers", Start::Earliest).expect("group");
            for _ in 0..2 {
                let mut m = group.join();
                consumers.push(thread::spawn(move || consume(&mut m)));
            }
        }
        _ => {
            let readers = if scenario == Scenario::Fanout { 2 } else { 1 };
            for _ in 0..readers {
                let mut s = topic.subscribe(SubscribeOptions::new().start(Start::Earliest)).expect("subscribe");
                consumers.push(thread::spawn(move || consume(&mut s)));
            }
        }
    }
    let start = Instant::now();
    let producers: Vec<_> = (0..scenario.producers())
        .map(|_| {
            let mut p = topic.publisher().expect("publisher");
            thread::spawn(move || {
                if batch <= 1 {
                    for seq in 0..events {
                        p.publish(&stamp::<P>(seq)).expect("publish");
                    }
                } else {
                    let mut bufs = vec![[0u8; P]; batch];
                    let mut seq = 0;
                    while seq < events {
                        let n = batch.min((events - seq) as usize);
                        for (i, b) in bufs[..n].iter_mut().enumerate() {
                            *b = stamp::<P>(seq + i as u64);
                        }
                        let records: [Record<'_>; 64] = std::array::from_fn(|i| Record::new(&bufs[i.min(n - 1)]));
                        p.publish_batch(&records[..n]).expect("publish");
                        seq += n as u64;
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().expect("producer");
    }
    topic.close();
    let (mut consumed, mut checksum) = (0, 0u64);
    for c in consumers {
        let (n, s) = c.join().expect("consumer");
        consumed += n;
        checksum = checksum.wrapping_add(s);
    }
    Outcome { elapsed: start.elapsed().max(Duration::from_nanos(1)), consumed, checksum }
}
