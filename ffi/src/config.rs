//! `rb_config`: bus and topic settings by string key, checked against ringbus's configuration
//! table (the same keys and units as `topic.conf` and Python's options).

use std::ffi::c_char;

use ringbus_core::{Error, TopicConfig, CONFIG_KEYS};

use crate::args::{put, str_arg};
use crate::panic::boundary;
use crate::status::{fail, from_error, rb_status, RB_ERR_INVALID_ARG, RB_ERR_NULL_ARG, RB_OK};

/// Bus and topic settings by string key and value (see `rb_config_set`). Not thread-safe.
pub struct rb_config {
    pub(crate) entries: Vec<(String, String)>,
}

/// Creates an empty configuration. Free it with `rb_config_free`.
///
/// Threads: one thread at a time per configuration.
///
/// # Safety
/// `out` is valid for a write of a pointer.
#[no_mangle]
pub unsafe extern "C" fn rb_config_new(out: *mut *mut rb_config) -> rb_status {
    boundary! {
        let config = Box::into_raw(Box::new(rb_config { entries: Vec::new() }));
        // SAFETY: forwarded contract.
        let status = unsafe { put(out, config) };
        if status != RB_OK {
            // SAFETY: `config` came from Box::into_raw just above and was not handed out.
            drop(unsafe { Box::from_raw(config) });
        }
        status
    }
}

/// The bus key; every other key is a topic setting of ringbus's configuration table.
pub(crate) const DATA_DIR: &str = "data_dir";

/// Sets `key` to `value` (both copied). `data_dir` opens the bus on that directory (persisted
/// topics); the topic keys are ringbus's configuration table, the same keys and units as
/// `topic.conf` and Python's options: `partitions`, `capacity`, `max_payload`, `max_key`
/// (bytes), `durability` (`memory`, `async`, `sync`), `async_max_delay_ms` (milliseconds,
/// fractions allowed; default 10), `segment_bytes`, `retention_bytes` (bytes or `none`),
/// `retention_ms`, `dedup_window_ms` (milliseconds), `producers` (`multi`, `single`),
/// `timestamps` (`coarse`, `precise`), `wait` (`park`, `yield`, `busy_spin`). An unknown key
/// or a value of the wrong form is `RB_ERR_INVALID_ARG`; ranges are checked when the topic
/// is created.
///
/// Threads: one thread at a time per configuration.
///
/// # Safety
/// `config` is NULL or a live configuration; `key` and `value` are NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn rb_config_set(config: *mut rb_config, key: *const c_char, value: *const c_char) -> rb_status {
    boundary! {
        // SAFETY: forwarded contract.
        let (key, value) = match unsafe { (str_arg(key, "key"), str_arg(value, "value")) } {
            (Ok(k), Ok(v)) => (k, v),
            (Err(s), _) | (_, Err(s)) => return s,
        };
        if config.is_null() {
            return fail(RB_ERR_NULL_ARG, "config is NULL");
        }
        if key != DATA_DIR {
            // The value's form now; ranges when the topic is created.
            if let Err(e) = TopicConfig::new().set(key, value) {
                let known: Vec<&str> = std::iter::once(DATA_DIR).chain(CONFIG_KEYS.iter().map(|k| k.name)).collect();
                let message = match e {
                    Error::InvalidConfig { field: "key", .. } => {
                        format!("unknown configuration key {key:?} (known: {})", known.join(", "))
                    }
                    e => e.to_string(),
                };
                return fail(RB_ERR_INVALID_ARG, message);
            }
        }
        // SAFETY: non-NULL, a live configuration owned by the caller, not shared.
        let config = unsafe { &mut *config };
        config.entries.retain(|(k, _)| k != key);
        config.entries.push((key.to_owned(), value.to_owned()));
        RB_OK
    }
}

/// Frees a configuration; NULL is a no-op.
///
/// Threads: one thread at a time per configuration.
///
/// # Safety
/// `config` is NULL or came from `rb_config_new` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rb_config_free(config: *mut rb_config) {
    boundary! {
        if !config.is_null() {
            // SAFETY: per the contract it came from Box::into_raw in rb_config_new.
            drop(unsafe { Box::from_raw(config) });
        }
    }
}

impl rb_config {
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub(crate) fn topic_config(&self) -> Result<TopicConfig, rb_status> {
        let topic: Vec<&(String, String)> = self.entries.iter().filter(|(k, _)| k != DATA_DIR).collect();
        let topic: Vec<(&str, &str)> = topic.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut c = TopicConfig::new();
        c.set_all(&topic).map_err(from_error)?;
        Ok(c)
    }
}
