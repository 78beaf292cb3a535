//! Runs one scenario once and prints its rate (a quick check while tuning):
//! `one <spsc|mpsc|fanout|workqueue> <payload 8|64> <batch> <events> [ringbus|ringbus-single|disruptor-yield|crossbeam]`.
//! A channel has no fanout: `crossbeam` refuses that scenario.
//! `SLOTS` sets the ring size in events (default 65536).
use ringbus::Producers;
use ringbus_benches::{expected, peers, ringbus_runs, Scenario};

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let scenario = match a[0].as_str() {
        "spsc" => Scenario::Spsc,
        "mpsc" => Scenario::Mpsc,
        "fanout" => Scenario::Fanout,
        "workqueue" => Scenario::WorkQueue,
        other => {
            eprintln!("one: unknown scenario {other:?}; pick spsc, mpsc, fanout or workqueue");
            std::process::exit(2);
        }
    };
    let (payload, batch, events): (usize, usize, u64) =
        (a[1].parse().unwrap(), a[2].parse().unwrap(), a[3].parse().unwrap());
    let slots: usize = std::env::var("SLOTS").ok().and_then(|s| s.parse().ok()).unwrap_or(65536);
    let peer = a.get(4).map_or("ringbus", String::as_str);
    if peer == "crossbeam" && scenario == Scenario::Fanout {
        eprintln!(
            "one: crossbeam-channel has no fanout (each event goes to one receiver); pick spsc, mpsc or workqueue"
        );
        std::process::exit(2);
    }
    let o = match (peer, payload) {
        ("crossbeam", 8) => peers::channel::<8>(scenario, events, slots, false),
        ("crossbeam", _) => peers::channel::<64>(scenario, events, slots, false),
        ("disruptor-yield", 8) => peers::disruptor::<8>(scenario, events, batch, slots, true),
        ("disruptor-yield", _) => peers::disruptor::<64>(scenario, events, batch, slots, true),
        ("ringbus-single", 8) => ringbus_runs::run::<8>(scenario, events, batch, slots, Producers::Single),
        ("ringbus-single", _) => ringbus_runs::run::<64>(scenario, events, batch, slots, Producers::Single),
        ("ringbus", 8) => ringbus_runs::run::<8>(scenario, events, batch, slots, Producers::Multi),
        ("ringbus", _) => ringbus_runs::run::<64>(scenario, events, batch, slots, Producers::Multi),
        (other, _) => {
            eprintln!("one: unknown system {other:?}; pick ringbus, ringbus-single, disruptor-yield or crossbeam");
            std::process::exit(2);
        }
    };
    assert_eq!((o.consumed, o.checksum), expected(scenario, events));
    println!("{:.1} M/s", (events * scenario.producers()) as f64 / o.elapsed.as_secs_f64() / 1e6);
}
