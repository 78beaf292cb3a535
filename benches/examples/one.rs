//! Runs one ringbus scenario once and prints its rate (a quick check while tuning).
use ringbus_benches::{expected, ringbus_runs, Scenario};
fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let scenario = match a[0].as_str() {
        "spsc" => Scenario::Spsc,
        "mpsc" => Scenario::Mpsc,
        "fanout" => Scenario::Fanout,
        _ => Scenario::WorkQueue,
    };
    let (payload, batch, events): (usize, usize, u64) =
        (a[1].parse().unwrap(), a[2].parse().unwrap(), a[3].parse().unwrap());
    let o = if payload == 8 {
        ringbus_runs::run::<8>(scenario, events, batch, 65536)
    } else {
        ringbus_runs::run::<64>(scenario, events, batch, 65536)
    };
    assert_eq!((o.consumed, o.checksum), expected(scenario, events));
    println!("{:.1} M/s", (events * scenario.producers()) as f64 / o.elapsed.as_secs_f64() / 1e6);
}
