//! The wait before a retry, doubling from a base up to a cap. The engine persists the time
//! it computes (a build's next poll, an outbox row's `next_attempt_at`), so the schedule is
//! one pure function of the attempt count: a restarted process continues it unchanged.

/// A doubling schedule: `base`, `2·base`, `4·base`, … never more than `cap`, doubling at
/// most `max_doublings` times (which also keeps the shift from overflowing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: i64,
    pub max_doublings: u32,
    pub cap: i64,
}

impl Backoff {
    /// The wait before the retry that follows `attempts` earlier attempts (0 → `base`).
    /// A negative count is read as 0.
    pub fn wait(&self, attempts: i64) -> i64 {
        let doublings = attempts.clamp(0, i64::from(self.max_doublings.min(62)));
        self.base.saturating_mul(1i64 << doublings).min(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;

    #[test]
    fn the_wait_doubles_from_the_base_up_to_the_cap() {
        let b = Backoff {
            base: 100,
            max_doublings: 10,
            cap: 1_000,
        };
        let table = [
            (-3, 100),
            (0, 100),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1_000),
            (50, 1_000),
        ];
        for (attempts, wait) in table {
            assert_eq!(b.wait(attempts), wait, "after {attempts} attempts");
        }
    }

    #[test]
    fn the_doublings_stop_at_their_limit_even_below_the_cap() {
        let b = Backoff {
            base: 1,
            max_doublings: 10,
            cap: i64::MAX,
        };
        assert_eq!(b.wait(10), 1024);
        assert_eq!(b.wait(11), 1024);
        assert_eq!(b.wait(i64::MAX), 1024);
    }

    #[test]
    fn a_huge_base_saturates_instead_of_overflowing() {
        let b = Backoff {
            base: i64::MAX / 2,
            max_doublings: 20,
            cap: i64::MAX,
        };
        assert_eq!(b.wait(5), i64::MAX);
        let capped = Backoff {
            base: 5_000,
            max_doublings: 20,
            cap: 300_000,
        };
        assert_eq!(capped.wait(20), 300_000);
    }
}
