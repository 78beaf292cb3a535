//! Prints the one-way cache-line hop between two threads (ns); above ~60 the cores drift.
fn main() {
    println!("canary {:.1} ns", ringbus_benches::canary_ns());
}
