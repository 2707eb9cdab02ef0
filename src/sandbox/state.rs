//! Shared sandbox state: counters, the quota, what was delivered (for duplicate detection) and the JSONL log.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::{Mutex, MutexGuard, PoisonError};

use std::time::{Duration, SystemTime};
use tokio::sync::mpsc::UnboundedReceiver;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::config::{last_per_number, phone_key, HeaderDialect, SandboxConfig, Validator};
use super::limiter::Limiter;
use super::webhooks::{Emitter, Outgoing, WebhookStats};
use crate::ratelimit::Rate;

/// What the sandbox has seen so far; served as JSON at `GET /_sandbox/stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Delivered messages, including those whose answer was dropped.
    pub accepted: u64,
    pub rejected_rate: u64,
    pub rejected_window: u64,
    pub rejected_invalid: u64,
    pub rejected_auth: u64,
    /// Injected 500s (not delivered).
    pub faults: u64,
    /// Delivered, but the connection was closed instead of answering.
    pub dropped: u64,
    /// Delivered, answered 200 with complete headers, then the body was cut mid-way.
    pub cut: u64,
    /// Deliveries of a (recipient, payload) pair that had already been delivered.
    pub duplicates: u64,
    /// The webhooks emitted (all zero unless a webhook log or URL is configured).
    #[serde(default)]
    pub webhooks: WebhookStats,
}

/// Read-only settings plus the mutable part behind one lock (requests are tiny; contention is not a concern).
pub(crate) struct App {
    pub rate: Option<Rate>,
    pub dialect: HeaderDialect,
    pub token: Option<String>,
    pub inbound: Inbound,
    pub window_length: Duration,
    pub fail_rate: f64,
    pub drop_rate: f64,
    pub cut_rate: f64,
    pub delay: Duration,
    pub validator: Option<Validator>,
    inner: Mutex<Inner>,
}

/// The recipients' last inbound times: phone numbers by their digits as a number, in a sorted
/// vector (16 bytes of key and 16 of time each: a map of a million number strings was the largest
/// part of a rehearsal's memory), other ids (BSUIDs) by their text.
pub(crate) struct Inbound {
    numbers: Vec<(u64, SystemTime)>,
    others: HashMap<String, SystemTime>,
}

impl Inbound {
    /// From the configuration's map and numbers; a number given twice keeps its last time (the
    /// numbers' last, then the map's).
    fn new(map: &HashMap<String, SystemTime>, mut numbers: Vec<(u64, SystemTime)>) -> Inbound {
        let mut others = HashMap::new();
        for (to, at) in map {
            let key = phone_key(to);
            match number(&key) {
                Some(n) => numbers.push((n, *at)),
                None => {
                    others.insert(key, *at);
                }
            }
        }
        last_per_number(&mut numbers);
        numbers.shrink_to_fit();
        Inbound { numbers, others }
    }

    /// The last inbound time of the recipient whose `phone_key` is `key`.
    pub fn get(&self, key: &str) -> Option<SystemTime> {
        match number(key) {
            Some(n) => self
                .numbers
                .binary_search_by_key(&n, |&(k, _)| k)
                .ok()
                .map(|i| self.numbers[i].1),
            None => self.others.get(key).copied(),
        }
    }
}

/// A `phone_key` of digits only (at most 19, so it fits) as a number.
fn number(key: &str) -> Option<u64> {
    let digits = !key.is_empty() && key.len() <= 19 && key.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| key.parse().ok()).flatten()
}

pub(crate) struct Inner {
    pub limiter: Option<Limiter>,
    /// The limiter the headers describe when it is not the one enforced (`real_rate`).
    pub advertised: Option<Limiter>,
    pub stats: Stats,
    seen: HashSet<(String, String)>,
    pub rng: StdRng,
    log: Option<File>,
    next_id: u64,
    /// Present when webhooks are emitted (a webhook log or URL is configured).
    pub emitter: Option<Emitter>,
}

impl App {
    /// The app, and the queue of webhook bodies to POST when a webhook URL is configured.
    pub fn new(config: SandboxConfig) -> io::Result<(App, Option<UnboundedReceiver<Outgoing>>)> {
        let (emitter, queue) = match Emitter::new(&config)? {
            Some((e, q)) => (Some(e), q),
            None => (None, None),
        };
        let log = match &config.log {
            Some(path) => Some(OpenOptions::new().create(true).append(true).open(path)?),
            None => None,
        };
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_rng(&mut rand::rng()),
        };
        let inner = Inner {
            limiter: config
                .real_rate
                .or(config.rate)
                .map(|r| Limiter::new(r, config.window_mode)),
            advertised: config
                .rate
                .filter(|_| config.real_rate.is_some())
                .map(|r| Limiter::new(r, config.window_mode)),
            stats: Stats::default(),
            seen: HashSet::new(),
            rng,
            log,
            next_id: 0,
            emitter,
        };
        let app = App {
            rate: config.rate,
            dialect: if config.window_mode.sends_headers() {
                config.headers
            } else {
                HeaderDialect::None
            },
            token: config.token,
            inbound: Inbound::new(&config.inbound, config.inbound_numbers),
            window_length: config.window_length,
            fail_rate: config.fail_rate,
            drop_rate: config.drop_rate,
            cut_rate: config.cut_rate,
            delay: config.delay,
            validator: config.validator,
            inner: Mutex::new(inner),
        };
        Ok((app, queue))
    }

    /// A panic elsewhere must not wedge the server, so a poisoned lock is simply taken over.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn stats(&self) -> Stats {
        let inner = self.lock();
        let mut stats = inner.stats;
        if let Some(e) = &inner.emitter {
            stats.webhooks = e.counts;
        }
        stats
    }
}

impl Inner {
    /// Records a delivery: counts it, detects a repeat of the same payload to the same recipient, logs it.
    pub fn deliver(&mut self, now: SystemTime, to: &str, body: &serde_json::Value) {
        self.stats.accepted += 1;
        if !self.seen.insert((phone_key(to), body.to_string())) {
            self.stats.duplicates += 1;
        }
        if let Some(file) = self.log.as_mut() {
            let time = jiff::Timestamp::try_from(now)
                .map(|t| t.to_string())
                .unwrap_or_default();
            let line = serde_json::json!({ "time": time, "to": to, "body": body });
            // One write per line keeps lines whole even if the file is tailed while running.
            if let Err(e) = file.write_all(format!("{line}\n").as_bytes()) {
                eprintln!("sandbox: cannot append to the message log: {e}");
            }
        }
    }

    /// A fresh id suffix: a sequence number (unique per server) plus random bits (unique across runs).
    pub fn next_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:06}{:08X}", self.next_id, self.rng.random::<u32>())
    }

    /// Rolls the dice for an injected fault with probability `p` (no roll when `p` is zero).
    pub fn roll(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.random_bool(p.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod inbound_tests {
    use super::*;

    #[test]
    fn inbound_times_are_found_by_number_or_by_id_and_the_last_given_wins() {
        let t = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let map = HashMap::from([
            ("+1 555 123 4567".to_string(), t(1)),
            ("US.13491208655302741918".to_string(), t(2)),
        ]);
        let numbers = vec![
            (14155550100, t(3)),
            (5215512345678, t(9)),
            (14155550100, t(4)),
        ];
        let inbound = Inbound::new(&map, numbers);
        assert_eq!(inbound.get(&phone_key("+15551234567")), Some(t(1)));
        assert_eq!(inbound.get(&phone_key("+1 415 555 0100")), Some(t(4)));
        assert_eq!(
            inbound.get(&phone_key("US.13491208655302741918")),
            Some(t(2))
        );
        assert_eq!(inbound.get(&phone_key("+14155550101")), None);
        assert_eq!(inbound.get(""), None);
        assert_eq!(inbound.numbers.len(), 3);
    }
}
