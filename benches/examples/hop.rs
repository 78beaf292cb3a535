//! The latency floor of a frame hop: ping-pong between two threads over two bare rings of
//! ringbus-style frames (a Release-stored commit word carrying a position tag, header words,
//! the payload), with none of ringbus's API around them, beside ringbus's own ping-pong
//! (`ringbus_benches::pingpong::ringbus`, the harness's latency row) and a single flag word
//! each way (the canary's shape). Half round trips, p50 and p99 in ns; each sample includes one clock
//! read, as the harness's do.
//!
//! `cargo run --release -p ringbus-benches --example hop [round_trips] [rounds]`
//!
//! Every round trip checks that the event that came back is the one sent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use hdrhistogram::Histogram;

/// Words of one ring (64 KiB, as the harness's ping-pong topics).
const RING_WORDS: usize = 8192;

/// The commit word of round trip `i`: its tag, so a frame of an older lap never matches.
fn commit_word(i: usize) -> u64 {
    1 | (i as u64) << 32
}

/// Bounces `round_trips` frames of `words` words (the last carries the sequence number) over
/// two rings of `ring_words` words; returns (p50, p99) of the half round trips.
fn bare(round_trips: usize, words: usize, ring_words: usize) -> (u64, u64) {
    let ring = || Arc::new((0..ring_words).map(|_| AtomicU64::new(0)).collect::<Box<[AtomicU64]>>());
    let (ping, pong) = (ring(), ring());
    let mask = ring_words - 1;
    // Writes frame `i` into `to`: header words, the sequence number, then the commit word.
    let send = move |to: &[AtomicU64], i: usize, seq: u64| {
        let at = (i * words) & mask;
        for k in 1..words.saturating_sub(1) {
            to[at + k].store(k as u64, Ordering::Relaxed);
        }
        if words > 1 {
            to[at + words - 1].store(seq, Ordering::Relaxed);
        }
        to[at].store(commit_word(i), Ordering::Release);
    };
    // Waits for frame `i` in `from` and returns its sequence number.
    let receive = move |from: &[AtomicU64], i: usize| {
        let at = (i * words) & mask;
        while from[at].load(Ordering::Acquire) != commit_word(i) {
            std::hint::spin_loop();
        }
        if words > 1 {
            from[at + words - 1].load(Ordering::Relaxed)
        } else {
            i as u64
        }
    };
    let echo = {
        let (ping, pong) = (Arc::clone(&ping), Arc::clone(&pong));
        thread::spawn(move || {
            for i in 0..round_trips {
                let seq = receive(&ping, i);
                send(&pong, i, seq);
            }
        })
    };
    let mut half = Histogram::<u64>::new(3).expect("histogram");
    for i in 0..round_trips {
        let sent = Instant::now();
        send(&ping, i, i as u64);
        assert_eq!(receive(&pong, i), i as u64, "a round trip came back with another event");
        half.record((sent.elapsed().as_nanos() as u64 / 2).max(1)).expect("in range");
    }
    echo.join().expect("echo thread");
    (half.value_at_quantile(0.5), half.value_at_quantile(0.99))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let round_trips: usize = args.next().map_or(Ok(1_000_000), |a| a.parse()).expect("round trips: a number");
    let rounds: usize = args.next().map_or(Ok(3), |a| a.parse()).expect("rounds: a number");
    for round in 1..=rounds {
        println!("round {round}: canary {:.1} ns", ringbus_benches::canary_ns());
        for (name, words, ring_words) in [
            ("bare 32 B frames", 4, RING_WORDS),
            ("bare 16 B frames", 2, RING_WORDS),
            ("bare 8 B frames", 1, RING_WORDS),
            ("one flag word each way", 1, 1),
        ] {
            let (p50, p99) = bare(round_trips, words, ring_words);
            println!("  {name:<26} p50 {p50:>5} ns  p99 {p99:>5} ns");
        }
        let h = ringbus_benches::pingpong::ringbus(round_trips as u64).half_rtt;
        println!("  {:<26} p50 {:>5} ns  p99 {:>5} ns", "ringbus", h.value_at_quantile(0.5), h.value_at_quantile(0.99));
        println!("  canary after {:.1} ns", ringbus_benches::canary_ns());
    }
}
