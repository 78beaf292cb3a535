//! The configuration table: every [`TopicConfig`] setting by a string key, the one place
//! where keys, units and defaults are spelled. `topic.conf`, the C API's `rb_config_set` and
//! Python's keyword options all go through it.
#![deny(unsafe_code)]

use std::time::Duration;

use super::{Durability, Producers, TimestampSource, TopicConfig};
use crate::error::Error;
use crate::ring::wait::WaitStrategy;

/// One key of the configuration table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigKey {
    /// The key, as `topic.conf`, `rb_config_set` and Python spell it.
    pub name: &'static str,
    /// The values it takes, with their unit.
    pub values: &'static str,
    /// Its value in [`TopicConfig::new`].
    pub default: &'static str,
}

/// The fsync delay of `durability=async` when `async_max_delay_ms` is not given.
pub const DEFAULT_ASYNC_MAX_DELAY: Duration = Duration::from_millis(10);

/// Every key, in the order [`TopicConfig::set_all`] applies them and
/// [`TopicConfig::entries`] lists them (`durability` before `async_max_delay_ms`).
pub const CONFIG_KEYS: &[ConfigKey] = &[
    ConfigKey { name: "partitions", values: "1 to 4096", default: "1" },
    ConfigKey {
        name: "capacity",
        values: "ring bytes per partition, a power of two, 4096 to 2^30",
        default: "4194304",
    },
    ConfigKey { name: "max_payload", values: "bytes", default: "1048576" },
    ConfigKey { name: "max_key", values: "bytes, at most 65535", default: "4096" },
    ConfigKey { name: "durability", values: "memory, async or sync", default: "memory" },
    ConfigKey {
        name: "async_max_delay_ms",
        values: "milliseconds, fractions allowed (0.5), more than 0 and at most 3600000; \
                 durability=async only, ignored otherwise",
        default: "10",
    },
    ConfigKey { name: "segment_bytes", values: "bytes, at least capacity + 64", default: "67108864" },
    ConfigKey { name: "retention_bytes", values: "bytes of log kept per partition, or none", default: "none" },
    ConfigKey { name: "retention_ms", values: "milliseconds, or none", default: "none" },
    ConfigKey { name: "dedup_window_ms", values: "milliseconds", default: "600000" },
    ConfigKey { name: "producers", values: "multi or single", default: "multi" },
    ConfigKey { name: "timestamps", values: "coarse or precise", default: "coarse" },
    ConfigKey { name: "wait", values: "park, yield or busy_spin", default: "park" },
];

/// The table's entry for `name`, if it is a key.
pub fn config_key(name: &str) -> Option<&'static ConfigKey> {
    CONFIG_KEYS.iter().find(|k| k.name == name)
}

impl TopicConfig {
    /// Sets the setting `key` from its string form (see [`CONFIG_KEYS`] for keys and units).
    /// Only the value's form is checked here; ranges are checked by
    /// [`validate`](Self::validate) when the topic is created.
    ///
    /// `async_max_delay_ms` changes the delay of an async durability and is ignored for the
    /// others, so set `durability` first ([`set_all`](Self::set_all) orders keys itself);
    /// `durability=async` keeps the delay of a durability that is already async, and is
    /// otherwise [`DEFAULT_ASYNC_MAX_DELAY`].
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for an unknown key or a value of the wrong form; the
    /// configuration is then unchanged.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), Error> {
        let Some(entry) = config_key(key) else {
            let known: Vec<&str> = CONFIG_KEYS.iter().map(|k| k.name).collect();
            return Err(Error::InvalidConfig {
                field: "key",
                reason: format!("unknown configuration key {key:?} (known: {})", known.join(", ")),
            });
        };
        let bad = || Error::InvalidConfig { field: entry.name, reason: format!("{value:?} is not {}", entry.values) };
        let whole = || value.parse::<u64>().map_err(|_| bad());
        match entry.name {
            "partitions" => self.partitions = u32::try_from(whole()?).map_err(|_| bad())?,
            "capacity" => self.capacity = usize::try_from(whole()?).map_err(|_| bad())?,
            "max_payload" => self.max_payload = usize::try_from(whole()?).map_err(|_| bad())?,
            "max_key" => self.max_key = usize::try_from(whole()?).map_err(|_| bad())?,
            "durability" => {
                self.durability = match value {
                    "memory" => Durability::Memory,
                    "sync" => Durability::Sync,
                    "async" => match self.durability {
                        Durability::Async { max_delay } => Durability::Async { max_delay },
                        _ => Durability::Async { max_delay: DEFAULT_ASYNC_MAX_DELAY },
                    },
                    _ => return Err(bad()),
                }
            }
            "async_max_delay_ms" => {
                let delay = parse_ms(value).ok_or_else(bad)?;
                if let Durability::Async { max_delay } = &mut self.durability {
                    *max_delay = delay;
                }
            }
            "segment_bytes" => self.segment_bytes = whole()?,
            "retention_bytes" => self.retention_bytes = if value == "none" { None } else { Some(whole()?) },
            "retention_ms" => {
                self.retention_age = if value == "none" { None } else { Some(parse_ms(value).ok_or_else(bad)?) }
            }
            "dedup_window_ms" => self.dedup_window = parse_ms(value).ok_or_else(bad)?,
            "producers" => {
                self.producers = match value {
                    "multi" => Producers::Multi,
                    "single" => Producers::Single,
                    _ => return Err(bad()),
                }
            }
            "timestamps" => {
                self.timestamps = match value {
                    "coarse" => TimestampSource::Coarse,
                    "precise" => TimestampSource::Precise,
                    _ => return Err(bad()),
                }
            }
            "wait" => {
                self.wait = match value {
                    "park" => WaitStrategy::Park,
                    "yield" => WaitStrategy::Yield,
                    "busy_spin" => WaitStrategy::BusySpin,
                    _ => return Err(bad()),
                }
            }
            other => unreachable!("{other} is in CONFIG_KEYS but has no parser"),
        }
        Ok(())
    }

    /// Sets every `(key, value)` pair as [`set`](Self::set) does, in the table's order whatever
    /// their order here (so `durability` comes before `async_max_delay_ms`); a key given twice
    /// takes its last value.
    ///
    /// # Errors
    /// The first [`Error::InvalidConfig`] in table order; the configuration may then be
    /// partly changed.
    pub fn set_all<K: AsRef<str>, V: AsRef<str>>(&mut self, entries: &[(K, V)]) -> Result<(), Error> {
        if let Some((k, v)) = entries.iter().find(|(k, _)| config_key(k.as_ref()).is_none()) {
            return self.set(k.as_ref(), v.as_ref());
        }
        for key in CONFIG_KEYS {
            if let Some((_, v)) = entries.iter().rev().find(|(k, _)| k.as_ref() == key.name) {
                self.set(key.name, v.as_ref())?;
            }
        }
        Ok(())
    }

    /// Every setting as `(key, value)` in the table's order, in the form [`set`](Self::set)
    /// reads back to an equal configuration (`async_max_delay_ms` only for an async
    /// durability).
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::with_capacity(CONFIG_KEYS.len());
        for key in CONFIG_KEYS {
            let value = match key.name {
                "partitions" => self.partitions.to_string(),
                "capacity" => self.capacity.to_string(),
                "max_payload" => self.max_payload.to_string(),
                "max_key" => self.max_key.to_string(),
                "durability" => match self.durability {
                    Durability::Memory => "memory".into(),
                    Durability::Async { .. } => "async".into(),
                    Durability::Sync => "sync".into(),
                },
                "async_max_delay_ms" => match self.durability {
                    Durability::Async { max_delay } => format_ms(max_delay),
                    _ => continue,
                },
                "segment_bytes" => self.segment_bytes.to_string(),
                "retention_bytes" => self.retention_bytes.map_or("none".into(), |b| b.to_string()),
                "retention_ms" => self.retention_age.map_or("none".into(), format_ms),
                "dedup_window_ms" => format_ms(self.dedup_window),
                "producers" => match self.producers {
                    Producers::Single => "single".into(),
                    _ => "multi".into(),
                },
                "timestamps" => match self.timestamps {
                    TimestampSource::Precise => "precise".into(),
                    _ => "coarse".into(),
                },
                "wait" => match self.wait {
                    WaitStrategy::BusySpin => "busy_spin".into(),
                    WaitStrategy::Yield => "yield".into(),
                    _ => "park".into(),
                },
                other => unreachable!("{other} is in CONFIG_KEYS but has no writer"),
            };
            out.push((key.name, value));
        }
        out
    }
}

/// Milliseconds with up to six decimals ("10", "0.5", "1.000001") as a duration.
pub(crate) fn parse_ms(value: &str) -> Option<Duration> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if fraction.len() > 6 || !fraction.bytes().all(|b| b.is_ascii_digit()) || value.ends_with('.') {
        return None;
    }
    let ms: u64 = whole.parse().ok()?;
    let ns: u64 = if fraction.is_empty() { 0 } else { format!("{fraction:0<6}").parse().ok()? };
    Duration::from_millis(ms).checked_add(Duration::from_nanos(ns))
}

/// A duration as [`parse_ms`] reads it back exactly (nanoseconds are kept).
pub(crate) fn format_ms(d: Duration) -> String {
    let (ms, ns) = (d.as_millis(), d.as_nanos() % 1_000_000);
    if ns == 0 {
        ms.to_string()
    } else {
        format!("{ms}.{ns:06}").trim_end_matches('0').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_the_defaults() {
        let mut defaults = TopicConfig::new().entries();
        // async_max_delay_ms is listed for async topics only.
        let async_entries =
            TopicConfig::new().durability(Durability::Async { max_delay: DEFAULT_ASYNC_MAX_DELAY }).entries();
        defaults.insert(5, async_entries[5].clone());
        let table: Vec<(&str, String)> = CONFIG_KEYS.iter().map(|k| (k.name, k.default.to_owned())).collect();
        assert_eq!(defaults, table);
    }

    #[test]
    fn entries_read_back_to_an_equal_config() {
        let config = TopicConfig::new()
            .partitions(3)
            .capacity(1 << 20)
            .max_payload(1000)
            .max_key(16)
            .durability(Durability::Async { max_delay: Duration::from_micros(2500) })
            .segment_bytes(8 << 20)
            .retention_bytes(1 << 30)
            .retention_age(Duration::from_millis(90_000))
            .dedup_window(Duration::from_secs(5))
            .producers(Producers::Single)
            .timestamps(TimestampSource::Precise)
            .wait(WaitStrategy::Yield);
        let mut back = TopicConfig::new();
        // Reversed: set_all applies durability before its delay whatever the order given.
        let mut entries = config.entries();
        entries.reverse();
        back.set_all(&entries).unwrap();
        assert_eq!(back, config);
        assert!(entries.contains(&("async_max_delay_ms", "2.5".to_owned())));
    }

    #[test]
    fn bad_keys_and_values_are_named() {
        let field = |k: &str, v: &str| match TopicConfig::new().set(k, v) {
            Err(Error::InvalidConfig { field, reason }) => (field, reason),
            other => panic!("{k}={v}: {other:?}"),
        };
        assert_eq!(field("colour", "red").0, "key");
        assert!(field("colour", "red").1.contains("dedup_window_ms"));
        assert_eq!(field("capacity", "4k").0, "capacity");
        assert_eq!(field("partitions", "4294967296").0, "partitions");
        assert_eq!(field("durability", "fast").0, "durability");
        assert_eq!(field("async_max_delay_ms", "1.2345678").0, "async_max_delay_ms");
        assert_eq!(field("retention_ms", "-1").0, "retention_ms");
        assert_eq!(field("wait", "spin").0, "wait");
        let mut c = TopicConfig::new();
        c.set("retention_bytes", "none").unwrap();
        assert_eq!(c.retention_bytes, None);
    }

    #[test]
    fn async_delay_follows_durability() {
        let mut c = TopicConfig::new();
        c.set("async_max_delay_ms", "5").unwrap();
        assert_eq!(c.durability, Durability::Memory, "ignored while not async");
        c.set("durability", "async").unwrap();
        assert_eq!(c.durability, Durability::Async { max_delay: DEFAULT_ASYNC_MAX_DELAY });
        c.set("async_max_delay_ms", "0.25").unwrap();
        c.set("durability", "async").unwrap();
        assert_eq!(c.durability, Durability::Async { max_delay: Duration::from_micros(250) });
    }

    #[test]
    fn milliseconds_round_trip() {
        for (text, d) in [
            ("0", Duration::ZERO),
            ("10", Duration::from_millis(10)),
            ("0.5", Duration::from_micros(500)),
            ("1.000001", Duration::from_nanos(1_000_001)),
        ] {
            assert_eq!(parse_ms(text), Some(d), "{text}");
            assert_eq!(format_ms(d), text);
        }
        for bad in ["", ".5", "5.", "1e3", "-1", " 1", "1.0000001", "99999999999999999999"] {
            assert_eq!(parse_ms(bad), None, "{bad:?}");
        }
    }
}
