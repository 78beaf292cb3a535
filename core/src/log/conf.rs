//! `topic.conf`: a persisted topic's configuration, one `key=value` line per entry of the
//! configuration table (`config/keys.rs`), read when the data directory is opened.
#![deny(unsafe_code)]

use std::fs;
use std::path::Path;
use std::time::Duration;

use super::dir::{check_entry, replace_file, TOPIC_CONF};
use crate::config::keys::{config_key, format_ms};
use crate::config::{Durability, TopicConfig};
use crate::error::Error;

/// Writes `config` as the topic's `topic.conf`, one `key=value` line per entry of the
/// configuration table ([`TopicConfig::entries`]), atomically: temporary file, fsync, rename,
/// directory fsync.
pub(crate) fn write_topic_conf(topic_dir: &Path, config: &TopicConfig) -> Result<(), Error> {
    let mut text =
        String::from("# ringbus topic configuration, written by ringbus; read when the data directory is opened\n");
    for (key, value) in config.entries() {
        match (key, config.durability) {
            // Version 1's form, which every build reads (older ones refuse a bare `async`);
            // `async_max_delay_ms` follows with the exact delay, which older builds ignore.
            ("durability", Durability::Async { max_delay }) => {
                text.push_str(&format!("durability=async:{}\n", max_delay.as_micros()));
            }
            _ => text.push_str(&format!("{key}={value}\n")),
        }
    }
    replace_file(&topic_dir.join(TOPIC_CONF), text.as_bytes())
}

/// Reads a topic's `topic.conf`.
///
/// # Errors
/// [`Error::Io`] when it cannot be read, [`Error::CorruptLog`] naming the file when a line
/// or a value is unreadable or the configuration it describes is invalid.
pub(crate) fn read_topic_conf(topic_dir: &Path) -> Result<TopicConfig, Error> {
    let path = topic_dir.join(TOPIC_CONF);
    check_entry(&path, false)?;
    let text = fs::read_to_string(&path).map_err(|e| Error::io(format!("reading {}", path.display()), &e))?;
    let corrupt = |reason: String| Error::CorruptLog { segment: path.display().to_string(), position: 0, reason };
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let bad = || corrupt(format!("unreadable configuration line {line:?}"));
        let (key, value) = line.split_once('=').ok_or_else(bad)?;
        match (key, value.strip_prefix("async:")) {
            // Written before the configuration table: the async delay in microseconds.
            ("durability", Some(micros)) => {
                let micros: u64 = micros.parse().map_err(|_| bad())?;
                entries.push(("durability".into(), "async".into()));
                entries.push(("async_max_delay_ms".into(), format_ms(Duration::from_micros(micros))));
            }
            // Keys from a later version are ignored (see FORMAT.md: compatibility).
            _ if config_key(key).is_none() => {}
            _ => entries.push((key.to_owned(), value.to_owned())),
        }
    }
    let mut config = TopicConfig::new();
    config.set_all(&entries).map_err(|e| corrupt(format!("unreadable configuration: {e}")))?;
    config.validate().map_err(|e| corrupt(format!("stored configuration is invalid: {e}")))?;
    Ok(config)
}
