//! Kill -9 at random moments: a child process publishes to a `Sync` topic from several threads
//! and prints each acknowledged event on stdout; the parent kills it with SIGKILL after a
//! random time, reopens the directory and checks that every acknowledged event is there, in
//! order, byte-identical, and that nothing half-written is delivered. Rounds share one data
//! directory, so each round also recovers from the previous round's crash.
//!
//! `RINGBUS_CRASH_ROUNDS` sets the rounds (default 50); a soak is one variable away.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Rng;
use ringbus::{Bus, Durability, Record, Start, SubscribeOptions, TopicConfig};

const CHILD_ENV: &str = "RINGBUS_CRASH_CHILD";
const THREADS: u32 = 3;

/// The payload of event `seq` of `thread` in `round`: self-describing, with a body whose
/// length and bytes follow from the header, so a torn or mixed-up event cannot pass.
fn payload(round: u32, thread: u32, seq: u64) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&round.to_le_bytes());
    v.extend_from_slice(&thread.to_le_bytes());
    v.extend_from_slice(&seq.to_le_bytes());
    let len = (seq * 31 + u64::from(thread) * 7) % 300;
    v.extend((0..len).map(|i| (i as u8).wrapping_mul(13) ^ (seq as u8) ^ (round as u8)));
    v
}

fn parse(payload: &[u8]) -> Option<(u32, u32, u64)> {
    if payload.len() < 16 {
        return None;
    }
    let round = u32::from_le_bytes(payload[0..4].try_into().ok()?);
    let thread = u32::from_le_bytes(payload[4..8].try_into().ok()?);
    let seq = u64::from_le_bytes(payload[8..16].try_into().ok()?);
    Some((round, thread, seq))
}

fn config() -> TopicConfig {
    TopicConfig::new()
        .partitions(2)
        .capacity(256 << 10)
        .max_payload(1024)
        .segment_bytes(1 << 20)
        .durability(Durability::Sync)
}

/// The child's work: publish until killed, reporting "round thread seq partition offset".
fn child(dir: &str, round: u32) -> ! {
    let bus = Bus::open(dir).expect("child opens the directory");
    let topic = match bus.topic("crash") {
        Some(t) => t,
        None => bus.create_topic("crash", config()).expect("create"),
    };
    let out = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let mut p = topic.publisher().expect("publisher");
            let out = out.clone();
            std::thread::spawn(move || {
                for seq in 0.. {
                    let key = format!("thread-{thread}");
                    let r = p.publish(Record::new(&payload(round, thread, seq)).key(key.as_bytes())).expect("publish");
                    let mut o = out.lock().unwrap();
                    writeln!(o, "{round} {thread} {seq} {} {}", r.partition, r.offset).unwrap();
                    o.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    std::process::exit(0)
}

#[test]
fn crash_child_entry() {
    // Only a child started by the test below does anything here.
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let (dir, round) = spec.rsplit_once(':').expect("dir:round");
        child(dir, round.parse().expect("round"));
    }
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_event() {
    let rounds: u32 = std::env::var("RINGBUS_CRASH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(50);
    let seed = std::env::var("RINGBUS_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("seed {seed} (RINGBUS_CRASH_SEED replays it), {rounds} rounds");
    let mut rng = Rng(seed);
    let dir = std::env::temp_dir().join(format!("ringbus-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let exe = std::env::current_exe().unwrap();
    // (round, thread, seq) -> (partition, offset) of every acknowledged event.
    let mut acked: HashMap<(u32, u32, u64), (u32, u64)> = HashMap::new();
    let mut total_truncated = 0;
    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .args(["crash_child_entry", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, format!("{}:{round}", dir.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                lines.push(line);
            }
            lines
        });
        // Let it get going (opening includes recovery), then kill at a random moment.
        std::thread::sleep(Duration::from_millis(30 + rng.next() % 120));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        let mut this_round = 0;
        for line in &lines {
            let f: Vec<u64> = line.split(' ').filter_map(|x| x.parse().ok()).collect();
            if f.len() != 5 {
                continue; // the test harness's own output
            }
            acked.insert((f[0] as u32, f[1] as u32, f[2]), (f[3] as u32, f[4]));
            this_round += 1;
        }

        // Reopen and read everything.
        let started = Instant::now();
        let bus = Bus::open(&dir).unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        let Some(topic) = bus.topic("crash") else {
            assert_eq!(this_round, 0, "round {round}: events were acknowledged but the topic is gone");
            continue;
        };
        for p in &topic.stats().partitions {
            total_truncated += p.log.as_ref().unwrap().truncated_on_open;
        }
        // Closed: the subscription drains everything held, then reports Closed.
        topic.close();
        let mut sub = topic.subscribe(SubscribeOptions::new().start(Start::Earliest)).unwrap();
        let mut found: HashMap<(u32, u32, u64), (u32, u64)> = HashMap::new();
        let mut last_seq: HashMap<(u32, u32), u64> = HashMap::new();
        loop {
            let e = match sub.poll(Some(Duration::from_secs(5))) {
                Ok(Some(e)) => e,
                Ok(None) => panic!("round {round}: reading stalled"),
                Err(ringbus::Error::Closed) => break,
                Err(e) => panic!("round {round}: {e}"),
            };
            let id = parse(e.payload).unwrap_or_else(|| panic!("round {round}: a malformed event at {}", e.offset));
            assert_eq!(e.payload, &payload(id.0, id.1, id.2)[..], "round {round}: a torn event at {}", e.offset);
            // Within a partition each thread's events arrive in sequence, none skipped.
            if let Some(prev) = last_seq.insert((id.0, id.1), id.2) {
                assert_eq!(id.2, prev + 1, "round {round}: {id:?} after seq {prev}");
            } else {
                assert_eq!(id.2, 0, "round {round}: {id:?} is the first event of its thread");
            }
            found.insert(id, (e.partition, e.offset));
        }
        for (id, at) in &acked {
            assert_eq!(found.get(id), Some(at), "round {round}: acknowledged event {id:?} at {at:?} is missing");
        }
        drop(sub);
        bus.close();
        drop(bus);
        eprintln!(
            "round {round}: {this_round} acknowledged, {} held in all, reopened and checked in {:?}",
            found.len(),
            started.elapsed()
        );
    }
    eprintln!("torn-tail bytes cut off over all rounds: {total_truncated}");
    assert!(acked.len() > rounds as usize, "the children acknowledged too little to test anything");
    std::fs::remove_dir_all(&dir).unwrap();
}
