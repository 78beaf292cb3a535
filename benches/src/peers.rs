//! The same scenarios on ringbus's peers, each configured the way its users run it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use disruptor::{BusySpin, Producer, Sequence};

use crate::{backoff, seq_of, stamp, Outcome, Scenario};

/// A Disruptor wait strategy that yields the CPU (the crate accepts custom strategies; busy
/// spinning collapses when threads outnumber cores).
#[derive(Clone, Copy)]
pub struct YieldWait;

impl disruptor::wait_strategies::WaitStrategy for YieldWait {
    fn wait_for(&self, _sequence: Sequence) {
        thread::yield_now();
    }
}

struct Tally {
    n: AtomicU64,
    sum: AtomicU64,
}

/// A Disruptor event handler that counts and checksums the events it owns (`k` of every
/// `modulo`, for the work-queue-by-modulo pattern) and publishes its tally at batch ends.
fn handler<const P: usize>(
    tally: Arc<Tally>,
    k: i64,
    modulo: i64,
) -> impl FnMut(&[u8; P], Sequence, bool) + Send + 'static {
    let (mut n, mut sum) = (0u64, 0u64);
    move |e: &[u8; P], seq: Sequence, end: bool| {
        if seq % modulo == k {
            n += 1;
            sum = sum.wrapping_add(seq_of(e));
        }
        if end {
            tally.n.store(n, Ordering::Release);
            tally.sum.store(sum, Ordering::Release);
        }
    }
}

fn publish_all<const P: usize, Pr: Producer<[u8; P]>>(p: &mut Pr, events: u64, batch: usize) {
    if batch <= 1 {
        for seq in 0..events {
            p.publish(|e| *e = stamp::<P>(seq));
        }
    } else {
        let mut seq = 0;
        while seq < events {
            let n = batch.min((events - seq) as usize);
            p.batch_publish(n, |iter| {
                for e in iter {
                    *e = stamp::<P>(seq);
                    seq += 1;
                }
            });
        }
    }
}

/// The Disruptor crate with BusySpin (`yielding = false`) or a yielding wait strategy.
pub fn disruptor<const P: usize>(
    scenario: Scenario,
    events: u64,
    batch: usize,
    slots: usize,
    yielding: bool,
) -> Outcome {
    let tallies: Vec<Arc<Tally>> =
        (0..2).map(|_| Arc::new(Tally { n: AtomicU64::new(0), sum: AtomicU64::new(0) })).collect();
    let factory = || [0u8; P];
    let start = Instant::now();
    macro_rules! build_and_run {
        ($wait:expr) => {{
            match scenario {
                Scenario::Spsc => {
                    let mut p = disruptor::build_single_producer(slots, factory, $wait)
                        .handle_events_with(handler::<P>(tallies[0].clone(), 0, 1))
                        .build();
                    publish_all(&mut p, events, batch);
                }
                Scenario::Fanout | Scenario::WorkQueue => {
                    let m = if scenario == Scenario::Fanout { 1 } else { 2 };
                    let k1 = if m == 1 { 0 } else { 1 };
                    let mut p = disruptor::build_single_producer(slots, factory, $wait)
                        .handle_events_with(handler::<P>(tallies[0].clone(), 0, m))
                        .handle_events_with(handler::<P>(tallies[1].clone(), k1, m))
                        .build();
                    publish_all(&mut p, events, batch);
                }
                Scenario::Mpsc => {
                    let p = disruptor::build_multi_producer(slots, factory, $wait)
                        .handle_events_with(handler::<P>(tallies[0].clone(), 0, 1))
                        .build();
                    let mut p2 = p.clone();
                    let other = thread::spawn(move || publish_all(&mut p2, events, batch));
                    let mut p1 = p;
                    publish_all(&mut p1, events, batch);
                    other.join().expect("producer");
                }
            }
        }};
    }
    if yielding {
        build_and_run!(YieldWait)
    } else {
        build_and_run!(BusySpin)
    }
    // Dropping the producers joined the consumer threads: every event is handled.
    let elapsed = start.elapsed();
    let mut consumed = 0;
    let mut checksum = 0u64;
    for t in &tallies {
        consumed += t.n.load(Ordering::Acquire);
        checksum = checksum.wrapping_add(t.sum.load(Ordering::Acquire));
    }
    if scenario == Scenario::Mpsc {
        // Sequence numbers from two producers interleave; the checksum is over payloads.
    }
    Outcome { elapsed, consumed, checksum }
}

/// A bounded MPMC channel (crossbeam-channel or kanal) with blocking send and receive.
pub fn channel<const P: usize>(scenario: Scenario, events: u64, slots: usize, kanal_flavour: bool) -> Outcome {
    let consumers = if scenario == Scenario::WorkQueue { 2 } else { 1 };
    // The two crates' endpoints have the same shape; a macro keeps the calls monomorphic.
    macro_rules! endpoints {
        ($tx:expr, $rx:expr) => {{
            let (tx, rx) = ($tx, $rx);
            let senders: Vec<_> = (0..scenario.producers())
                .map(|_| {
                    let tx = tx.clone();
                    move |v: [u8; P]| tx.send(v).expect("send")
                })
                .collect();
            let receivers: Vec<_> = (0..consumers)
                .map(|_| {
                    let rx = rx.clone();
                    move || rx.recv().ok()
                })
                .collect();
            // Only the clones may keep the channel open: receivers end when producers finish.
            drop((tx, rx));
            drive_channel(events, senders, receivers)
        }};
    }
    if kanal_flavour {
        let (tx, rx) = kanal::bounded::<[u8; P]>(slots);
        endpoints!(tx, rx)
    } else {
        let (tx, rx) = crossbeam_channel::bounded::<[u8; P]>(slots);
        endpoints!(tx, rx)
    }
}

/// Runs producers and consumers of a channel; senders are dropped when their producer ends, so
/// receivers end after draining.
fn drive_channel<const P: usize, S, R>(events: u64, senders: Vec<S>, receivers: Vec<R>) -> Outcome
where
    S: FnMut([u8; P]) + Send + 'static,
    R: FnMut() -> Option<[u8; P]> + Send + 'static,
{
    let (txs, rxs) = (senders, receivers);
    let start = Instant::now();
    let consumer_handles: Vec<_> = rxs
        .into_iter()
        .map(|mut rx| {
            thread::spawn(move || {
                let (mut n, mut sum) = (0u64, 0u64);
                while let Some(v) = rx() {
                    n += 1;
                    sum = sum.wrapping_add(seq_of(&v));
                }
                (n, sum)
            })
        })
        .collect();
    let producer_handles: Vec<_> = txs
        .into_iter()
        .map(|mut tx| {
            thread::spawn(move || {
                for seq in 0..events {
                    tx(stamp::<P>(seq));
                }
            })
        })
        .collect();
    for h in producer_handles {
        h.join().expect("producer"); // senders drop here: receivers end after draining
    }
    let (mut consumed, mut checksum) = (0, 0u64);
    for h in consumer_handles {
        let (n, s) = h.join().expect("consumer");
        consumed += n;
        checksum = checksum.wrapping_add(s);
    }
    Outcome { elapsed: start.elapsed(), consumed, checksum }
}

/// rtrb (SPSC only), spin-then-yield on full and empty; batch uses write/read chunks.
pub fn rtrb<const P: usize>(events: u64, batch: usize, slots: usize) -> Outcome {
    let (mut tx, mut rx) = rtrb::RingBuffer::<[u8; P]>::new(slots);
    let start = Instant::now();
    let consumer = thread::spawn(move || {
        let (mut n, mut sum) = (0u64, 0u64);
        let mut spins = 0;
        while n < events {
            let ready = rx.slots();
            if ready == 0 {
                backoff(&mut spins);
                continue;
            }
            spins = 0;
            let chunk = rx.read_chunk(ready).expect("ready slots");
            for v in chunk.into_iter() {
                n += 1;
                sum = sum.wrapping_add(seq_of(&v));
            }
        }
        (n, sum)
    });
    let mut seq = 0;
    let mut spins = 0;
    while seq < events {
        let want = batch.max(1).min((events - seq) as usize);
        match tx.write_chunk_uninit(want) {
            Ok(chunk) => {
                let start_seq = seq;
                let written = chunk.fill_from_iter((start_seq..start_seq + want as u64).map(stamp::<P>));
                seq += written as u64;
                spins = 0;
            }
            Err(_) => backoff(&mut spins),
        }
    }
    let (consumed, checksum) = consumer.join().expect("consumer");
    Outcome { elapsed: start.elapsed(), consumed, checksum }
}

/// The `bus` crate (fanout only), spin-then-yield on full and empty.
pub fn bus<const P: usize>(events: u64, slots: usize) -> Outcome {
    let mut b = bus::Bus::<[u8; P]>::new(slots);
    let readers: Vec<_> = (0..2).map(|_| b.add_rx()).collect();
    let start = Instant::now();
    let consumers: Vec<_> = readers
        .into_iter()
        .map(|mut rx| {
            thread::spawn(move || {
                let (mut n, mut sum) = (0u64, 0u64);
                let mut spins = 0;
                while n < events {
                    match rx.try_recv() {
                        Ok(v) => {
                            n += 1;
                            sum = sum.wrapping_add(seq_of(&v));
                            spins = 0;
                        }
                        Err(_) => backoff(&mut spins),
                    }
                }
                (n, sum)
            })
        })
        .collect();
    let mut spins = 0;
    for seq in 0..events {
        let mut v = stamp::<P>(seq);
        loop {
            match b.try_broadcast(v) {
                Ok(()) => break,
                Err(back) => {
                    v = back;
                    backoff(&mut spins);
                }
            }
        }
        spins = 0;
    }
    let (mut consumed, mut checksum) = (0, 0u64);
    for h in consumers {
        let (n, s) = h.join().expect("consumer");
        consumed += n;
        checksum = checksum.wrapping_add(s);
    }
    let elapsed = start.elapsed().max(Duration::from_nanos(1));
    Outcome { elapsed, consumed, checksum }
}
