//! The comparison harness: the same scenarios on ringbus and its peers in one process run.
//!
//! `cargo run --release -p ringbus-benches --bin compare [-- --quick] [--json] [--only memory|latency|ffi|persisted]`
//!
//! The latency section bounces one event between two threads (ping, pong) on ringbus, the
//! Disruptor and crossbeam-channel, interleaved run by run, and reports half round trips
//! (p50/p99/p99.9 over 1M round trips per system and run, 3 runs; quick: 100k, 1 run) next
//! to the canary's one-way cache-line hop measured before each run, the physical floor.
//!
//! Then persisted ingest (`persist_async`, `persist_sync`) beside the disk's own limits measured
//! with fio on the same filesystem (`target/bench-data`). When fio is missing, the harness
//! installs Debian's `fio` package if it runs as root with apt-get, and otherwise leaves the
//! disk lines out, saying why. Beside the pipelined `Sync` row (4 producers, batch tickets,
//! 64 B), run by run, Redis Streams with `appendfsync always` on a server of the harness's own
//! (`redis-benchmark`: 4 clients pipelining 64 XADDs; XLEN checks that every one is kept),
//! installed from Debian the same way or left out, saying why.
//!
//! Systems run interleaved (A B C A B C ...) so drift between this machine's cores hits all
//! alike; a ping-pong canary is measured before each run and a run whose canary is above
//! 60 ns is repeated once (and marked if it stays high). Every run checks the consumed count
//! and checksum; a mismatch aborts the harness. Reports the median, min and max of the runs
//! in million events per second, and each ringbus figure's ratio to the best peer.

use std::time::{Duration, Instant};

use ringbus::{Durability, Producers};
use ringbus_benches::{canary_ns, expected, peers, persist, pingpong, ringbus_runs, Outcome, Scenario};

/// Peers' ring size in slots; ringbus gets the bytes for about as many events.
const SLOTS: usize = 65536;
const BATCH: usize = 64;

#[derive(Clone, Copy, PartialEq, Eq)]
enum System {
    Ringbus,
    RingbusSingle,
    /// ringbus (default configuration) while an idle persisted topic exists in the process.
    RingbusIdlePersisted,
    Disruptor,
    DisruptorYield,
    Crossbeam,
    Kanal,
    Rtrb,
    Bus,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::Ringbus => "ringbus",
            System::RingbusSingle => "ringbus-single",
            System::RingbusIdlePersisted => "ringbus-idle-persisted",
            System::Disruptor => "disruptor",
            System::DisruptorYield => "disruptor-yield",
            System::Crossbeam => "crossbeam",
            System::Kanal => "kanal",
            System::Rtrb => "rtrb",
            System::Bus => "bus",
        }
    }

    /// Whether the system has this scenario (and batch publishing, for batch > 1).
    fn supports(self, scenario: Scenario, batch: usize) -> bool {
        use Scenario::*;
        match self {
            System::Ringbus | System::Disruptor | System::DisruptorYield => true,
            System::RingbusSingle => scenario != Mpsc,
            System::RingbusIdlePersisted => scenario == Spsc,
            System::Crossbeam | System::Kanal => batch == 1 && scenario != Fanout,
            System::Rtrb => scenario == Spsc,
            System::Bus => batch == 1 && scenario == Fanout,
        }
    }

    fn run<const P: usize>(self, scenario: Scenario, events: u64, batch: usize) -> Outcome {
        match self {
            System::Ringbus => ringbus_runs::run::<P>(scenario, events, batch, SLOTS, Producers::Multi),
            System::RingbusSingle => ringbus_runs::run::<P>(scenario, events, batch, SLOTS, Producers::Single),
            System::RingbusIdlePersisted => persist::with_idle_persisted_topic(|| {
                ringbus_runs::run::<P>(scenario, events, batch, SLOTS, Producers::Multi)
            }),
            System::Disruptor => peers::disruptor::<P>(scenario, events, batch, SLOTS, false),
            System::DisruptorYield => peers::disruptor::<P>(scenario, events, batch, SLOTS, true),
            System::Crossbeam => peers::channel::<P>(scenario, events, SLOTS, false),
            System::Kanal => peers::channel::<P>(scenario, events, SLOTS, true),
            System::Rtrb => peers::rtrb::<P>(events, batch, SLOTS),
            System::Bus => peers::bus::<P>(events, SLOTS),
        }
    }
}

const ALL: [System; 9] = [
    System::Ringbus,
    System::RingbusSingle,
    System::RingbusIdlePersisted,
    System::Disruptor,
    System::DisruptorYield,
    System::Crossbeam,
    System::Kanal,
    System::Rtrb,
    System::Bus,
];

fn run_checked(system: System, scenario: Scenario, payload: usize, events: u64, batch: usize) -> Outcome {
    let outcome = match payload {
        8 => system.run::<8>(scenario, events, batch),
        _ => system.run::<64>(scenario, events, batch),
    };
    let (count, sum) = expected(scenario, events);
    assert_eq!(
        (outcome.consumed, outcome.checksum),
        (count, sum),
        "{} {} {}B batch {}: wrong count or checksum",
        system.name(),
        scenario.name(),
        payload,
        batch
    );
    outcome
}

fn meps(scenario: Scenario, events: u64, elapsed: Duration) -> f64 {
    (events * scenario.producers()) as f64 / elapsed.as_secs_f64() / 1e6
}

struct Row {
    scenario: Scenario,
    payload: usize,
    batch: usize,
    system: System,
    runs: Vec<f64>,
    drift: bool,
}

impl Row {
    fn stats(&self) -> (f64, f64, f64) {
        let mut v = self.runs.clone();
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0], v[v.len() - 1])
    }
}

fn main() {
    const USAGE: &str = "usage: compare [--quick] [--json] [--only memory|latency|ffi|persisted]";
    let (mut quick, mut json, mut only) = (false, false, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--json" => json = true,
            "--only" => match args.next().as_deref() {
                Some(section @ ("memory" | "latency" | "ffi" | "persisted")) => only = Some(section.to_owned()),
                other => {
                    eprintln!("--only takes memory, latency, ffi or persisted, not {other:?}; {USAGE}");
                    std::process::exit(2);
                }
            },
            bad => {
                eprintln!("unknown argument {bad:?}; {USAGE}");
                std::process::exit(2);
            }
        }
    }
    let wanted = |section: &str| only.is_none() || only.as_deref() == Some(section);
    let runs = 5;
    let target = if quick { Duration::from_millis(25) } else { Duration::from_millis(150) };
    let started = Instant::now();
    let mut rows = Vec::new();
    let scenarios = if wanted("memory") {
        &[Scenario::Spsc, Scenario::Mpsc, Scenario::Fanout, Scenario::WorkQueue][..]
    } else {
        &[]
    };
    for &scenario in scenarios {
        for payload in [8usize, 64] {
            for batch in [1usize, BATCH] {
                let systems: Vec<System> = ALL.iter().copied().filter(|s| s.supports(scenario, batch)).collect();
                // Calibrate events per run so each takes about `target`.
                let sizes: Vec<u64> = systems
                    .iter()
                    .map(|&s| {
                        let probe = 20_000;
                        let o = run_checked(s, scenario, payload, probe, batch);
                        let per_sec = probe as f64 / o.elapsed.as_secs_f64();
                        ((per_sec * target.as_secs_f64()) as u64).clamp(20_000, 50_000_000) / 64 * 64
                    })
                    .collect();
                let mut group: Vec<Row> = systems
                    .iter()
                    .map(|&system| Row { scenario, payload, batch, system, runs: Vec::new(), drift: false })
                    .collect();
                for _ in 0..runs {
                    for (i, &system) in systems.iter().enumerate() {
                        let mut attempt = 0;
                        loop {
                            let canary = canary_ns();
                            let o = run_checked(system, scenario, payload, sizes[i], batch);
                            attempt += 1;
                            if canary <= 60.0 || attempt == 2 {
                                group[i].drift |= canary > 60.0;
                                group[i].runs.push(meps(scenario, sizes[i], o.elapsed));
                                break;
                            }
                        }
                    }
                }
                print_group(&group, json);
                rows.extend(group);
            }
        }
    }
    let memory_rows = rows.len();
    let latency_targets = if wanted("latency") { latency_section(quick, json) } else { Vec::new() };
    let ffi_targets = if wanted("ffi") { ffi_section(quick, json) } else { Vec::new() };
    let persisted = if wanted("persisted") { persisted_section(quick, json) } else { Vec::new() };
    if !json {
        println!("\n== targets (ratios from this run)");
        let spsc = |system: System| {
            rows.iter()
                .find(|r| r.scenario == Scenario::Spsc && r.payload == 8 && r.batch == BATCH && r.system == system)
                .map(|r| r.stats().0)
        };
        if let (Some(idle), Some(plain)) = (spsc(System::RingbusIdlePersisted), spsc(System::Ringbus)) {
            println!(
                "  memory SPSC batch beside an idle persisted topic: {:.2}x of without (target >= 0.90)",
                idle / plain
            );
        }
        for line in latency_targets.iter().chain(&ffi_targets).chain(&persisted) {
            println!("  {line}");
        }
        println!(
            "\n{} memory results in {:.1} s in all; medians of {runs} runs, M events/s; * = core drift (canary > 60 ns) in some run",
            memory_rows,
            started.elapsed().as_secs_f64()
        );
    }
}

/// Ping-pong latency on ringbus and its peers beside the canary; prints and returns the
/// target lines.
fn latency_section(quick: bool, json: bool) -> Vec<String> {
    type Run = fn(u64) -> pingpong::Latencies;
    let systems: [(&str, Run); 3] =
        [("ringbus", pingpong::ringbus), ("disruptor-yield", pingpong::disruptor), ("crossbeam", pingpong::crossbeam)];
    let (round_trips, runs) = if quick { (100_000, 1) } else { (1_000_000, 3) };
    let mut merged: Vec<Option<pingpong::Latencies>> = vec![None; systems.len()];
    let mut canaries = Vec::new();
    for _ in 0..runs {
        for (i, (_, run)) in systems.iter().enumerate() {
            canaries.push(canary_ns());
            let l = run(round_trips);
            assert_eq!(l.half_rtt.len(), round_trips, "every round trip recorded");
            match &mut merged[i] {
                Some(m) => m.half_rtt.add(&l.half_rtt).expect("same bounds"),
                slot @ None => *slot = Some(l),
            }
        }
    }
    canaries.sort_by(f64::total_cmp);
    let canary = canaries[canaries.len() / 2];
    let clock = pingpong::clock_ns();
    let q = |i: usize, p: f64| merged[i].as_ref().expect("ran").half_rtt.value_at_quantile(p);
    if json {
        for (i, (name, _)) in systems.iter().enumerate() {
            println!(
                "{{\"scenario\":\"pingpong\",\"system\":\"{name}\",\"round_trips\":{},\"p50_ns\":{},\"p99_ns\":{},\"p999_ns\":{},\"canary_ns\":{canary:.1},\"clock_ns\":{clock:.1}}}",
                round_trips * runs, q(i, 0.5), q(i, 0.99), q(i, 0.999)
            );
        }
    } else {
        println!("\nping-pong, half round trip in ns ({} round trips per system; canary one-way hop {canary:.1} ns; each sample includes one clock read, {clock:.1} ns)", round_trips * runs);
        println!("  {:<22} {:>10} {:>10} {:>10}", "system", "p50", "p99", "p99.9");
        for (i, (name, _)) in systems.iter().enumerate() {
            println!("  {name:<22} {:>10} {:>10} {:>10}", q(i, 0.5), q(i, 0.99), q(i, 0.999));
        }
    }
    vec![
        format!(
            "ping-pong p50: ringbus {} ns, {:.2}x the canary's hop (target <= 2)",
            q(0, 0.5),
            q(0, 0.5) as f64 / canary
        ),
        format!("ping-pong p50: ringbus {} ns against the disruptor's {} ns (target <=)", q(0, 0.5), q(1, 0.5)),
    ]
}

/// The C API against native Rust, per event; prints both and returns the target lines.
fn ffi_section(quick: bool, json: bool) -> Vec<String> {
    let n = if quick { 500_000 } else { 2_000_000 };
    let (native, native_sum) = ringbus_benches::ffi_cost::native(n);
    let expected = {
        let m = n - n % 64;
        m * (m - 1) / 2
    };
    assert_eq!(native_sum, expected, "native run: wrong checksum");
    let c = match ringbus_benches::ffi_cost::c_api(n) {
        Ok((c, sum)) => {
            assert_eq!(sum, expected, "C API run: wrong checksum");
            c
        }
        Err(why) => {
            eprintln!("C API cost: skipped: {why}");
            return Vec::new();
        }
    };
    if !json {
        println!("\n== the C API against native Rust, one thread, 8-byte events, ns/event (medians of 5)");
        println!("   (batch polls: \"Rust\" reads the payload only, so the compiler skips decoding the");
        println!("    other fields; \"all fields\" reads everything a C view carries)");
        println!("  {:<16} {:>10} {:>10} {:>8} {:>11} {:>8}", "path", "Rust", "C API", "ratio", "all fields", "ratio");
    }
    let mut targets = Vec::new();
    for (i, &(test, native_i, all_i)) in ringbus_benches::ffi_cost::C_PATHS.iter().enumerate() {
        let ratio = c[i] / native[native_i];
        let all = all_i.map(|a| (native[a], c[i] / native[a]));
        if json {
            let all_json = all
                .map(|(ns, r)| format!(",\"rust_all_fields_ns_per_event\":{ns:.3},\"ratio_all_fields\":{r:.3}"))
                .unwrap_or_default();
            println!(
                "{{\"scenario\":\"ffi_cost\",\"test\":\"{test}\",\"system\":\"ringbus-c\",\"rust_ns_per_event\":{:.3},\"c_ns_per_event\":{:.3},\"ratio\":{ratio:.3}{all_json}}}",
                native[native_i], c[i]
            );
        } else {
            let all_text = all.map(|(ns, r)| format!(" {ns:>11.2} {r:>7.2}x")).unwrap_or_default();
            println!("  {test:<16} {:>10.2} {:>10.2} {ratio:>7.2}x{all_text}", native[native_i], c[i]);
        }
        let target = if test == "publish_single" {
            Some(1.5)
        } else if test.ends_with("batch") || test == "poll_views" {
            Some(1.2)
        } else {
            None
        };
        if let Some(t) = target {
            let all_text = all.map(|(_, r)| format!("; {r:.2}x a Rust loop reading all fields")).unwrap_or_default();
            targets.push(format!("C API {test}: {ratio:.2}x the Rust cost per event{all_text} (target <= {t:.1})"));
        }
    }
    targets
}

/// fio, then persisted ingest; prints both and returns the target lines.
fn persisted_section(quick: bool, json: bool) -> Vec<String> {
    let fio_dir = persist::data_dir("fio");
    let fio = match persist::fio(&fio_dir, quick) {
        Ok(f) => f,
        Err(why) => {
            eprintln!("fio: {why}");
            Vec::new()
        }
    };
    let _ = std::fs::remove_dir_all(&fio_dir);
    if !json {
        println!("\n== the disk, measured with fio in target/bench-data");
        println!("  {:<16} {:>10} {:>12}", "test", "MB/s", "writes/s");
    }
    for f in &fio {
        if json {
            println!(
                "{{\"scenario\":\"disk\",\"system\":\"fio\",\"test\":\"{}\",\"mb_per_s\":{:.1},\"iops\":{:.1}}}",
                f.test, f.mb_per_s, f.iops
            );
        } else {
            println!("  {:<16} {:>10.1} {:>12.0}", f.test, f.mb_per_s, f.iops);
        }
    }
    let fio_of = |test: &str| fio.iter().find(|f| f.test == test).cloned();
    // (durability, payload, producers, batch). Batches of 64: with 4 producers and 1 KiB events,
    // 256 KiB are in flight, the block size of the fio write+fdatasync test they are set against.
    let async_ = Durability::Async { max_delay: Duration::from_millis(10) };
    // Ticket rows: publishers that do not wait for each fsync (up to 64 batch tickets or 1024
    // single-event tickets in flight per producer).
    use persist::Ack::{Tickets, Wait};
    let sync = Durability::Sync;
    let cases: Vec<(Durability, usize, usize, usize, persist::Ack)> = if quick {
        vec![
            (async_, 1024, 1, 64, Wait),
            (sync, 1024, 4, 64, Wait),
            (sync, 64, 4, 1, Wait),
            (sync, 64, 4, 64, Tickets(64)),
            (sync, 64, 1, 1, Tickets(1024)),
        ]
    } else {
        let mut v = Vec::new();
        for d in [async_, sync] {
            for payload in [64, 1024] {
                for producers in [1, 4] {
                    v.push((d, payload, producers, 64, Wait));
                }
            }
        }
        v.push((sync, 64, 4, 1, Wait));
        v.push((sync, 1024, 4, 1, Wait));
        v.push((sync, 64, 4, 64, Tickets(64)));
        v.push((sync, 1024, 4, 64, Tickets(64)));
        v.push((sync, 64, 4, 1, Tickets(1024)));
        v.push((sync, 64, 1, 1, Tickets(1024)));
        v
    };
    let (runs, duration) = if quick { (3, Duration::from_millis(400)) } else { (5, Duration::from_secs(1)) };
    if !json {
        println!("\n== persisted ingest, one partition, read back and checked after each run (medians of {runs})");
        println!(
            "  {:<14} {:>7} {:>9} {:>6} {:>8} {:>10} {:>9} {:>10} {:>8} {:>8} {:>8}  backend",
            "scenario",
            "payload",
            "producers",
            "batch",
            "tickets",
            "M ev/s",
            "MB/s",
            "fsyncs/s",
            "p50 us",
            "p99 us",
            "p99.9 us"
        );
    }
    let mut targets = Vec::new();
    for (durability, payload, producers, batch, ack) in cases {
        // Redis Streams with appendfsync always runs beside the pipelined Sync row, run by run.
        let with_redis =
            matches!((durability, payload, producers, batch, ack), (Durability::Sync, 64, 4, 64, Tickets(_)));
        let mut redis = Vec::new();
        let mut redis_missing = false;
        let results: Vec<persist::IngestResult> = (0..runs)
            .map(|_| {
                let r = persist::ingest(durability, payload, producers, batch, ack, duration);
                if with_redis && !redis_missing {
                    match persist::redis_always(64, 4, 64, if quick { 100_000 } else { 400_000 }) {
                        Ok(x) => redis.push(x),
                        Err(why) => {
                            eprintln!("Redis Streams (appendfsync always) left out: {why}");
                            redis_missing = true;
                        }
                    }
                }
                r
            })
            .collect();
        redis.sort_by(|a, b| a.rps.total_cmp(&b.rps));
        let redis_median = redis.get(redis.len() / 2).cloned();
        let tickets = match ack {
            Wait => 0,
            Tickets(n) => n,
        };
        let mut rates: Vec<f64> = results.iter().map(|r| r.events as f64 / r.elapsed.as_secs_f64()).collect();
        rates.sort_by(f64::total_cmp);
        let median_i = {
            let median = rates[rates.len() / 2];
            results
                .iter()
                .position(|r| r.events as f64 / r.elapsed.as_secs_f64() == median)
                .expect("the median is one of the runs")
        };
        let m = &results[median_i];
        let eps = rates[rates.len() / 2];
        let mb = eps * payload as f64 / 1e6;
        let fsyncs = m.fsyncs as f64 / m.elapsed.as_secs_f64();
        let (scenario, dname) =
            if durability == Durability::Sync { ("persist_sync", "sync") } else { ("persist_async", "async") };
        if json {
            let lat = m
                .latency_us
                .map_or(String::new(), |(a, b, c)| format!(",\"p50_us\":{a:.0},\"p99_us\":{b:.0},\"p999_us\":{c:.0}"));
            println!(
                "{{\"scenario\":\"{scenario}\",\"payload_bytes\":{payload},\"batch\":{batch},\"system\":\"ringbus\",\"durability\":\"{dname}\",\"producers\":{producers},\"tickets_in_flight\":{tickets},\"median_meps\":{:.4},\"min_meps\":{:.4},\"max_meps\":{:.4},\"mb_per_s\":{mb:.1},\"fsyncs_per_s\":{fsyncs:.1},\"io_backend\":\"{}\",\"runs\":{runs}{lat}}}",
                eps / 1e6,
                rates[0] / 1e6,
                rates[rates.len() - 1] / 1e6,
                m.backend
            );
        } else {
            let (a, b, c) = m.latency_us.map_or((String::new(), String::new(), String::new()), |(a, b, c)| {
                (format!("{a:.0}"), format!("{b:.0}"), format!("{c:.0}"))
            });
            println!(
                "  {scenario:<14} {payload:>7} {producers:>9} {batch:>6} {tickets:>8} {:>10.3} {mb:>9.1} {fsyncs:>10.0} {a:>8} {b:>8} {c:>8}  {}",
                eps / 1e6,
                m.backend
            );
        }
        if let Some(r) = &redis_median {
            if json {
                println!(
                    "{{\"scenario\":\"persist_sync\",\"payload_bytes\":64,\"batch\":64,\"system\":\"redis-streams-appendfsync-always\",\"producers\":4,\"median_meps\":{:.4},\"min_meps\":{:.4},\"max_meps\":{:.4},\"p50_us\":{:.0},\"p99_us\":{:.0},\"runs\":{}}}",
                    r.rps / 1e6,
                    redis[0].rps / 1e6,
                    redis[redis.len() - 1].rps / 1e6,
                    r.p50_ms * 1e3,
                    r.p99_ms * 1e3,
                    redis.len()
                );
            } else {
                println!(
                    "  {:<14} {:>7} {:>9} {:>6} {:>8} {:>10.3} {:>9.1} {:>10} {:>8.0} {:>8.0} {:>8}  (Redis Streams, appendfsync always, redis-benchmark: 4 clients pipelining 64 XADDs; runs alternate with the row above)",
                    "redis_always", 64, 4, 64, "-", r.rps / 1e6, r.rps * 64.0 / 1e6, "", r.p50_ms * 1e3, r.p99_ms * 1e3, ""
                );
            }
        }
        match (durability, payload, producers, batch, ack) {
            (Durability::Async { .. }, 1024, 1, _, _) => {
                if let Some(f) = fio_of("seq_buffered") {
                    targets.push(format!(
                        "Async 1 KiB ingest: {mb:.0} MB/s = {:.2}x fio sequential buffered writes ({:.0} MB/s; target >= 0.80)",
                        mb / f.mb_per_s,
                        f.mb_per_s
                    ));
                }
            }
            (Durability::Sync, 1024, 4, 64, Wait) => {
                if let Some(f) = fio_of("fdatasync_4k") {
                    targets.push(format!(
                        "Sync, 4 producers, 1 KiB, batches of 64: {eps:.0} events/s = {:.1}x fio 4 KiB write+fdatasync ({:.0}/s; target >= 10)",
                        eps / f.iops,
                        f.iops
                    ));
                }
                if let Some(f) = fio_of("fdatasync_256k") {
                    targets.push(format!(
                        "Sync, 4 producers, 1 KiB: {mb:.0} MB/s = {:.2}x fio 256 KiB write+fdatasync ({:.0} MB/s; target >= 0.50)",
                        mb / f.mb_per_s,
                        f.mb_per_s
                    ));
                }
            }
            (Durability::Sync, 64, 4, 64, Tickets(_)) => {
                let p99 = m.latency_us.map_or(0.0, |l| l.1);
                let vs_redis = redis_median.as_ref().map_or(String::new(), |r| {
                    format!(" = {:.1}x Redis Streams appendfsync always ({:.3} M/s)", eps / r.rps, r.rps / 1e6)
                });
                targets.push(format!(
                    "Sync, 4 producers pipelining batch tickets, 64 B: {:.2} M events/s{vs_redis} (target >= 2), p99 publish to durable {p99:.0} us",
                    eps / 1e6
                ));
            }
            (Durability::Sync, 1024, 4, 64, Tickets(_)) => {
                if let Some(f) = fio_of("fdatasync_256k") {
                    targets.push(format!(
                        "Sync, 4 producers with tickets, 1 KiB: {mb:.0} MB/s = {:.2}x fio 256 KiB write+fdatasync ({:.0} MB/s; target >= 0.80)",
                        mb / f.mb_per_s,
                        f.mb_per_s
                    ));
                }
            }
            (Durability::Sync, 64, 1, 1, Tickets(n)) => targets.push(format!(
                "Sync, 1 producer, one event per call, up to {n} tickets in flight, 64 B: {:.2} M events/s (target >= 1)",
                eps / 1e6
            )),
            _ => {}
        }
    }
    targets
}

fn print_group(group: &[Row], json: bool) {
    let ours = |s: System| matches!(s, System::Ringbus | System::RingbusSingle | System::RingbusIdlePersisted);
    let best_peer = group.iter().filter(|r| !ours(r.system)).map(|r| r.stats().0).fold(0.0, f64::max);
    let first = &group[0];
    if !json {
        println!("\n{} {}B batch {}", first.scenario.name(), first.payload, first.batch);
        println!("  {:<22} {:>10} {:>10} {:>10} {:>12}", "system", "median", "min", "max", "vs best peer");
    }
    for r in group {
        let (median, min, max) = r.stats();
        let ratio = if ours(r.system) && best_peer > 0.0 { Some(median / best_peer) } else { None };
        if json {
            let ratio_field = ratio.map_or(String::new(), |x| format!(",\"ratio_to_best_peer\":{x:.3}"));
            println!(
                "{{\"scenario\":\"{}\",\"payload_bytes\":{},\"batch\":{},\"system\":\"{}\",\"median_meps\":{:.3},\"min_meps\":{:.3},\"max_meps\":{:.3},\"runs\":{},\"drift\":{}{}}}",
                r.scenario.name(), r.payload, r.batch, r.system.name(), median, min, max, r.runs.len(), r.drift, ratio_field
            );
        } else {
            let mark = if r.drift { "*" } else { "" };
            let ratio = ratio.map_or(String::new(), |x| format!("{x:.2}x"));
            println!("  {:<22} {:>10.1} {:>10.1} {:>10.1} {:>12}{mark}", r.system.name(), median, min, max, ratio);
        }
    }
}
