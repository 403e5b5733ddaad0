//! The one source of "now" for paydesk's time-dependent logic: checkout expiry, deposit deadlines,
//! the reconciler's stale margin, webhook retry schedules and settling, idempotency expiry, and the
//! times stamped on rows. Production reads the system clock. A test holds a `ClockHand` and moves
//! the app's time forward instead of sleeping; time still flows between moves, so ordering by time
//! keeps working.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::{Duration, OffsetDateTime};

/// A cheap, cloneable clock. Every clone of one clock reads the same time.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Microseconds added to the system clock; only a `ClockHand` moves it.
    shift_us: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock that reads the system clock until its hand moves it forward.
    pub fn with_hand() -> (Self, ClockHand) {
        let clock = Self::default();
        let hand = ClockHand(clock.shift_us.clone());
        (clock, hand)
    }

    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + Duration::microseconds(self.shift_us.load(Ordering::Acquire))
    }
}

/// Moves a `Clock` forward (never back: an instance's time must not run backwards).
#[derive(Clone, Debug)]
pub struct ClockHand(Arc<AtomicI64>);

impl ClockHand {
    pub fn advance(&self, by: Duration) {
        let micros = i64::try_from(by.whole_microseconds()).unwrap_or(i64::MAX);
        self.0.fetch_add(micros.max(0), Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hand_moves_every_clone_forward_and_never_back() {
        let (clock, hand) = Clock::with_hand();
        let copy = clock.clone();
        let before = copy.now();
        hand.advance(Duration::hours(2));
        assert!(copy.now() - before >= Duration::hours(2));
        let after = clock.now();
        hand.advance(Duration::hours(-5));
        assert!(clock.now() >= after);
        assert!(Clock::system().now() - OffsetDateTime::now_utc() < Duration::seconds(1));
    }
}
