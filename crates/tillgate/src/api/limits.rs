//! Load shedding: a token bucket per API key and a cap on requests in flight. Over either limit the
//! answer is Stripe's 429 `rate_limit` with `Retry-After`, before any work is done — so nothing
//! accepted is ever dropped, and the process stays within bounded memory under overload.
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct LimitConfig {
    /// Sustained requests per second per key (0: unlimited).
    pub per_key_per_sec: u32,
    /// Requests a key may send at once above the sustained rate.
    pub burst: u32,
    /// Requests being served at once, across keys (0: unlimited).
    pub max_in_flight: usize,
}

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig {
            per_key_per_sec: 10_000,
            burst: 20_000,
            max_in_flight: 4_096,
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

pub struct Limits {
    config: LimitConfig,
    buckets: Mutex<HashMap<String, Bucket>>,
    in_flight: AtomicUsize,
}

/// Holds a place among the requests in flight until dropped.
pub struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Limits {
    pub fn new(config: LimitConfig) -> Limits {
        Limits {
            config,
            buckets: Mutex::new(HashMap::new()),
            in_flight: AtomicUsize::new(0),
        }
    }

    /// Takes a token from the key's bucket, or says how long to wait for one.
    pub fn take(&self, key_hash: &str) -> Result<(), Duration> {
        let rate = self.config.per_key_per_sec;
        if rate == 0 {
            return Ok(());
        }
        let burst = self.config.burst.max(1) as f64;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("rate buckets");
        if buckets.len() > 100_000 {
            // Forget idle keys rather than grow without bound.
            buckets.retain(|_, b| now.duration_since(b.at) < Duration::from_secs(60));
        }
        let b = buckets.entry(key_hash.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate as f64).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / rate as f64))
        }
    }

    /// A place among the requests in flight, unless all are taken.
    pub fn enter(&self) -> Option<Slot<'_>> {
        let n = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(&self.in_flight);
        if self.config.max_in_flight != 0 && n >= self.config.max_in_flight {
            return None;
        }
        Some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_the_rate_and_others_are_unaffected() {
        let l = Limits::new(LimitConfig {
            per_key_per_sec: 10,
            burst: 5,
            max_in_flight: 2,
        });
        for _ in 0..5 {
            assert!(l.take("a").is_ok());
        }
        let wait = l.take("a").unwrap_err();
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        assert!(l.take("b").is_ok(), "another key has its own bucket");
        std::thread::sleep(Duration::from_millis(120));
        assert!(l.take("a").is_ok(), "tokens come back at the rate");

        let s1 = l.enter().unwrap();
        let _s2 = l.enter().unwrap();
        assert!(l.enter().is_none(), "a third concurrent request is shed");
        drop(s1);
        assert!(l.enter().is_some(), "a finished request frees its place");
    }
}
