//! What time it is, as Shipgate sees it: the system clock in the server, and a clock a test
//! moves by hand, so that session timeouts, gate expiry and retry delays are tested without
//! waiting for them or backdating rows. The store holds the one clock
//! ([`crate::store::Store::clock`]); the engine, the doors and sign-in all read it there.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// A source of the current time in milliseconds since the Unix epoch. Cheap to clone; the
/// clones of a manual clock share its time, so advancing one advances them all.
#[derive(Clone, Debug, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// The system's wall clock (what [`wall_ms`] reads).
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock that stands still at `start_ms` until [`Clock::advance`] moves it.
    pub fn manual(start_ms: i64) -> Clock {
        Clock(Some(Arc::new(AtomicI64::new(start_ms))))
    }

    pub fn now_ms(&self) -> i64 {
        match &self.0 {
            None => wall_ms(),
            Some(ms) => ms.load(Ordering::SeqCst),
        }
    }

    /// Moves a manual clock forward.
    ///
    /// # Panics
    /// On the system clock, which only time moves: a test that advances it has a bug.
    pub fn advance(&self, by: Duration) {
        let ms = self
            .0
            .as_ref()
            .expect("only a manual clock can be advanced (Clock::manual)");
        ms.fetch_add(
            i64::try_from(by.as_millis()).unwrap_or(i64::MAX),
            Ordering::SeqCst,
        );
    }

    /// How far this clock is ahead of the system clock: 0 for the system clock itself.
    /// Code that must use a time taken from the system clock (tower-sessions stamps a
    /// session's expiry with it) adds this to see it on this clock.
    pub fn ahead_of_system_ms(&self) -> i64 {
        match &self.0 {
            None => 0,
            Some(ms) => ms.load(Ordering::SeqCst) - wall_ms(),
        }
    }
}

/// The system's wall clock, in milliseconds since the epoch.
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::{Clock, wall_ms};
    use std::time::Duration;

    #[test]
    fn a_manual_clock_stands_still_until_advanced_and_its_clones_share_its_time() {
        let clock = Clock::manual(1_000);
        let clone = clock.clone();
        assert_eq!(clock.now_ms(), 1_000);
        for (advance_ms, now_ms) in [(0, 1_000), (1, 1_001), (1_500, 2_501), (60_000, 62_501)] {
            clone.advance(Duration::from_millis(advance_ms));
            assert_eq!(clock.now_ms(), now_ms, "after advancing {advance_ms} ms");
        }
    }

    #[test]
    fn the_system_clock_is_the_store_s_time_and_is_not_ahead_of_itself() {
        let clock = Clock::system();
        let (before, now, after) = (wall_ms(), clock.now_ms(), wall_ms());
        assert!(before <= now && now <= after);
        assert_eq!(clock.ahead_of_system_ms(), 0);
    }

    #[test]
    fn a_manual_clock_is_ahead_of_the_system_clock_by_what_it_was_advanced() {
        let clock = Clock::manual(wall_ms());
        clock.advance(Duration::from_secs(3600));
        let ahead = clock.ahead_of_system_ms();
        assert!((3_590_000..=3_600_000).contains(&ahead), "{ahead}");
    }

    #[test]
    #[should_panic(expected = "only a manual clock can be advanced")]
    fn advancing_the_system_clock_is_a_bug() {
        Clock::system().advance(Duration::from_millis(1));
    }
}
