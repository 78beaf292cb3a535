//! `-v`: ringbus's diagnostics (the `log` facade) on stderr, one line each, prefixed like the
//! tool's own messages. Without `-v` nothing is printed.

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Writes each message as `ringbus: <level>: <message>`.
struct Stderr;

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let level = match record.level() {
                Level::Error => "error",
                Level::Warn => "warning",
                Level::Info => "info",
                Level::Debug => "debug",
                Level::Trace => "trace",
            };
            eprintln!("ringbus: {level}: {}", record.args());
        }
    }

    fn flush(&self) {}
}

static STDERR: Stderr = Stderr;

/// Prints diagnostics at `verbose` (the count of `-v`): none at 0, info and above at 1,
/// everything at 2 or more.
pub fn print_on_stderr(verbose: u8) {
    let level = match verbose {
        0 => return,
        1 => LevelFilter::Info,
        _ => LevelFilter::Trace,
    };
    if log::set_logger(&STDERR).is_ok() {
        log::set_max_level(level);
    }
}
