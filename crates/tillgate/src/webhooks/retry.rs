//! The retry schedule: exponential backoff from a base delay, capped per step, inside a window
//! (3 days by default) that starts when the delivery was created; after it, the delivery fails.

/// The retry policy in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failed attempt; doubled after each further one.
    pub base_ms: i64,
    /// Longest single delay.
    pub max_delay_ms: i64,
    /// How long after its creation a delivery is still retried.
    pub window_ms: i64,
}

impl Backoff {
    /// When to try again after `attempts` failed attempts, or `None` once the window is over.
    pub fn next_attempt(&self, attempts: u32, created_ms: i64, now_ms: i64) -> Option<i64> {
        let exp = attempts.saturating_sub(1).min(40);
        let delay = self
            .base_ms
            .max(1)
            .saturating_mul(1_i64 << exp)
            .min(self.max_delay_ms.max(1));
        let at = now_ms.saturating_add(delay);
        (at <= created_ms.saturating_add(self.window_ms)).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 24 * 3600 * 1000;

    #[test]
    fn doubles_up_to_the_cap_and_stops_after_three_days() {
        let b = Backoff {
            base_ms: 30_000,
            max_delay_ms: 12 * 3600 * 1000,
            window_ms: 3 * DAY,
        };
        assert_eq!(b.next_attempt(1, 0, 0), Some(30_000));
        assert_eq!(b.next_attempt(2, 0, 0), Some(60_000));
        assert_eq!(b.next_attempt(3, 0, 0), Some(120_000));
        assert_eq!(b.next_attempt(30, 0, 0), Some(12 * 3600 * 1000));
        // Simulate a receiver that never answers: attempts stop inside the window.
        let (mut now, mut n) = (0_i64, 1_u32);
        while let Some(at) = b.next_attempt(n, 0, now) {
            now = at;
            n += 1;
        }
        assert!(now <= 3 * DAY && now > 2 * DAY, "last attempt at {now} ms");
        assert!((10..30).contains(&n), "{n} attempts");
    }
}
