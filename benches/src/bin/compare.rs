//! The comparison harness: the same scenarios on ringbus and its peers in one process run.
//!
//! `cargo run --release -p ringbus-benches --bin compare [-- --quick] [--json]`
//!
//! Systems run interleaved (A B C A B C ...) so drift between this machine's cores hits all
//! alike; a ping-pong canary is measured before each run and a run whose canary is above
//! 60 ns is repeated once (and marked if it stays high). Every run checks the consumed count
//! and checksum; a mismatch aborts the harness. Reports the median, min and max of the runs
//! in million events per second, and each ringbus figure's ratio to the best peer.

use std::time::{Duration, Instant};

use ringbus::Producers;
use ringbus_benches::{canary_ns, expected, peers, ringbus_runs, Outcome, Scenario};

/// Peers' ring size in slots; ringbus gets the bytes for about as many events.
const SLOTS: usize = 65536;
const BATCH: usize = 64;

#[derive(Clone, Copy, PartialEq, Eq)]
enum System {
    Ringbus,
    RingbusSingle,
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
            System::Crossbeam | System::Kanal => batch == 1 && scenario != Fanout,
            System::Rtrb => scenario == Spsc,
            System::Bus => batch == 1 && scenario == Fanout,
        }
    }

    fn run<const P: usize>(self, scenario: Scenario, events: u64, batch: usize) -> Outcome {
        match self {
            System::Ringbus => ringbus_runs::run::<P>(scenario, events, batch, SLOTS, Producers::Multi),
            System::RingbusSingle => ringbus_runs::run::<P>(scenario, events, batch, SLOTS, Producers::Single),
            System::Disruptor => peers::disruptor::<P>(scenario, events, batch, SLOTS, false),
            System::DisruptorYield => peers::disruptor::<P>(scenario, events, batch, SLOTS, true),
            System::Crossbeam => peers::channel::<P>(scenario, events, SLOTS, false),
            System::Kanal => peers::channel::<P>(scenario, events, SLOTS, true),
            System::Rtrb => peers::rtrb::<P>(events, batch, SLOTS),
            System::Bus => peers::bus::<P>(events, SLOTS),
        }
    }
}

const ALL: [System; 8] = [
    System::Ringbus,
    System::RingbusSingle,
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let json = args.iter().any(|a| a == "--json");
    if let Some(bad) = args.iter().find(|a| !matches!(a.as_str(), "--quick" | "--json")) {
        eprintln!("unknown argument {bad:?}; usage: compare [--quick] [--json]");
        std::process::exit(2);
    }
    let runs = 5;
    let target = if quick { Duration::from_millis(25) } else { Duration::from_millis(150) };
    let started = Instant::now();
    let mut rows = Vec::new();
    for scenario in [Scenario::Spsc, Scenario::Mpsc, Scenario::Fanout, Scenario::WorkQueue] {
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
    if !json {
        println!(
            "\n{} results in {:.1} s; medians of {runs} runs, M events/s; * = core drift (canary > 60 ns) in some run",
            rows.len(),
            started.elapsed().as_secs_f64()
        );
    }
}

fn print_group(group: &[Row], json: bool) {
    let ours = |s: System| matches!(s, System::Ringbus | System::RingbusSingle);
    let best_peer = group.iter().filter(|r| !ours(r.system)).map(|r| r.stats().0).fold(0.0, f64::max);
    let first = &group[0];
    if !json {
        println!("\n{} {}B batch {}", first.scenario.name(), first.payload, first.batch);
        println!("  {:<16} {:>10} {:>10} {:>10} {:>12}", "system", "median", "min", "max", "vs best peer");
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
            println!("  {:<16} {:>10.1} {:>10.1} {:>10.1} {:>12}{mark}", r.system.name(), median, min, max, ratio);
        }
    }
}
