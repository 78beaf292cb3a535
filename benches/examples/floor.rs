//! The floor a frame format puts under the ring: a bare single-producer ring of ringbus-style
//! frames (a commit word carrying the length and a position tag, then header words, then the
//! payload), with none of ringbus's claims, gates, cleaner or API around it. It shows how fast
//! one producer and one reader can move 8- and 64-byte events through a 2 MiB ring with an
//! `H`-byte header, one frame per event or one frame per 64 events ("packed"); the reader
//! spins on the next commit word or backs off 20 µs as ringbus's readers do; and the
//! producer zeroes the space the reader released before reusing it, as ringbus's cleaner
//! does, or not.
//!
//! `cargo run --release -p ringbus-benches --example floor [events] [runs]`
//!
//! Every run checks the count and the checksum of the sequence numbers the reader saw; the
//! configurations are interleaved run by run and the median is printed with the canary (the
//! one-way core-to-core hop) before and after.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

/// Ring bytes, as the harness gives ringbus for 65,536 frames of 32 bytes.
const CAPACITY: usize = 2 << 20;
/// The reader publishes its position every this many frames.
const RELEASE_EVERY: u64 = 64;

/// One configuration: header bytes, payload bytes, events per commit word.
#[derive(Clone, Copy)]
struct Shape {
    header: usize,
    payload: usize,
    /// 1: a frame per event. n > 1: one frame holds n payloads after one header.
    packed: usize,
    /// A reader that finds the next frame uncommitted spins on it (0) or pauses this many
    /// microseconds without touching the ring before looking again (as ringbus readers do).
    back_off_us: u64,
    /// The producer zeroes the bytes the reader has released before it reuses them, as
    /// ringbus's cleaner does (there, so that a reader never mistakes an older lap's bytes for
    /// a commit word).
    zeroing: bool,
}

impl Shape {
    fn frame_len(self) -> usize {
        (self.header + self.payload * self.packed).next_multiple_of(8)
    }

    fn name(self) -> String {
        let per = if self.packed == 1 { "1 event".to_string() } else { format!("{} events", self.packed) };
        let wait = if self.back_off_us == 0 { "spin".to_string() } else { format!("back-off {} us", self.back_off_us) };
        let zero = if self.zeroing { ", zeroing" } else { "" };
        format!("header {:>2} B, payload {:>2} B, {per:>9} per frame, {wait}{zero}", self.header, self.payload)
    }
}

struct Shared {
    words: Box<[AtomicU64]>,
    /// The reader's position (bytes), Release after it is done with the bytes before it.
    head: CachePadded<AtomicU64>,
}

/// Word 0: the frame's position tag and its length. Never zero for a real frame (len > 0).
fn commit_word(position: u64, len: usize) -> u64 {
    (position >> 3) << 32 | len as u64
}

/// One run: `events` events (a multiple of `shape.packed`); returns (M events/s, count, sum).
fn run(shape: Shape, events: u64) -> (f64, u64, u64) {
    let shared = Arc::new(Shared {
        words: (0..CAPACITY / 8).map(|_| AtomicU64::new(0)).collect(),
        head: CachePadded::new(AtomicU64::new(0)),
    });
    let frame = shape.frame_len() as u64;
    let frames = events / shape.packed as u64;
    let mask = (CAPACITY / 8 - 1) as u64;
    let reader = {
        let shared = Arc::clone(&shared);
        thread::spawn(move || {
            let (mut count, mut sum, mut position) = (0u64, 0u64, 0u64);
            let words = &shared.words;
            for n in 0..frames {
                let at = (position >> 3) & mask;
                let expect = commit_word(position, shape.frame_len());
                while words[at as usize].load(Ordering::Acquire) != expect {
                    if shape.back_off_us == 0 {
                        std::hint::spin_loop();
                    } else {
                        let until = Instant::now() + Duration::from_micros(shape.back_off_us);
                        while Instant::now() < until {
                            for _ in 0..16 {
                                std::hint::spin_loop();
                            }
                        }
                    }
                }
                // The payloads: the first word of each carries the sequence number.
                let first = at + (shape.header / 8) as u64;
                for i in 0..shape.packed as u64 {
                    let w = first + i * (shape.payload / 8) as u64;
                    sum = sum.wrapping_add(words[(w & mask) as usize].load(Ordering::Relaxed));
                    count += 1;
                }
                position += frame;
                if n % RELEASE_EVERY == RELEASE_EVERY - 1 {
                    shared.head.store(position, Ordering::Release);
                }
            }
            shared.head.store(position, Ordering::Release);
            (count, sum)
        })
    };
    let started = Instant::now();
    let words = &shared.words;
    // `zeroed`: the producer may write below `zeroed + CAPACITY`; with `zeroing`, it zeroes
    // what the reader released (up to `head`) before raising it.
    let (mut position, mut zeroed, mut seq) = (0u64, 0u64, 0u64);
    for _ in 0..frames {
        // Word indexes wrap at the buffer's end (a frame may straddle it).
        while position + frame > zeroed + CAPACITY as u64 {
            let head = shared.head.load(Ordering::Acquire);
            if shape.zeroing {
                for p in (zeroed..head).step_by(8) {
                    words[((p >> 3) & mask) as usize].store(0, Ordering::Relaxed);
                }
            }
            zeroed = head;
            if position + frame > zeroed + CAPACITY as u64 {
                std::hint::spin_loop();
            }
        }
        let at = (position >> 3) & mask;
        // Header words after word 0 (a timestamp, key length and flags in ringbus).
        for h in 1..(shape.header / 8) as u64 {
            words[((at + h) & mask) as usize].store(position ^ h, Ordering::Relaxed);
        }
        let first = at + (shape.header / 8) as u64;
        for i in 0..shape.packed as u64 {
            let w = first + i * (shape.payload / 8) as u64;
            words[(w & mask) as usize].store(seq, Ordering::Relaxed);
            for rest in 1..(shape.payload / 8) as u64 {
                words[((w + rest) & mask) as usize].store(0, Ordering::Relaxed);
            }
            seq += 1;
        }
        words[at as usize].store(commit_word(position, shape.frame_len()), Ordering::Release);
        position += frame;
    }
    let (count, sum) = reader.join().expect("reader thread");
    let secs = started.elapsed().as_secs_f64();
    (events as f64 / secs / 1e6, count, sum)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let events: u64 = args.next().map_or(Ok(20_000_000), |a| a.parse()).expect("events: a number");
    let runs: usize = args.next().map_or(Ok(5), |a| a.parse()).expect("runs: a number");
    let shapes: Vec<Shape> = [8usize, 64]
        .iter()
        .flat_map(|&payload| {
            [
                (8usize, 1usize, 0u64, false),
                (16, 1, 0, false),
                (24, 1, 0, false),
                (8, 1, 20, false),
                (16, 1, 20, false),
                (24, 1, 20, false),
                (24, 1, 20, true),
                (24, 64, 20, false),
            ]
            .into_iter()
            .map(move |(header, packed, back_off_us, zeroing)| Shape {
                header,
                payload,
                packed,
                back_off_us,
                zeroing,
            })
        })
        .collect();
    let events = events.next_multiple_of(64);
    println!("canary before {:.1} ns", ringbus_benches::canary_ns());
    let mut rates = vec![Vec::new(); shapes.len()];
    for _ in 0..runs {
        for (i, &shape) in shapes.iter().enumerate() {
            let (rate, count, sum) = run(shape, events);
            assert_eq!(count, events, "{}: events counted", shape.name());
            assert_eq!(sum, events * (events - 1) / 2, "{}: checksum", shape.name());
            rates[i].push(rate);
        }
    }
    for (shape, r) in shapes.iter().zip(rates) {
        println!(
            "{:<72} {:>4} B/event  median {:>7.1} M events/s",
            shape.name(),
            shape.frame_len() / shape.packed,
            median(r)
        );
    }
    println!("canary after {:.1} ns", ringbus_benches::canary_ns());
}
