//! The power-cut rounds (`power_loss_keeps_what_was_acknowledged.rs`) need the simulator, which
//! only the `power-loss` feature builds (the test command turns it on). Built without it, this
//! says so instead of passing silently.

#[cfg(not(feature = "power-loss"))]
#[test]
fn power_cut_rounds_need_the_power_loss_feature() {
    eprintln!(
        "NOT RUN: the power-cut rounds need `--features ringbus/power-loss` (scripts/check.sh turns it on); \
         the kill -9 rounds of crash_loses_no_acknowledged_event ran instead"
    );
}

#[cfg(feature = "power-loss")]
#[test]
fn the_power_loss_simulator_is_built() {
    assert!(ringbus::powerloss::Simulator::attach(&std::env::temp_dir().join("ringbus-sim-probe"), 1).is_ok());
}
