//! Reconnect pauses for the socket channels (Discord's Gateway, Slack's
//! Socket Mode): doubling from half a second to a minute, jittered, so a
//! proxy or platform that keeps refusing never turns into a hot loop.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// The longest pause between reconnects.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A number in \[0, 1), different on every call (jitter, not cryptography).
pub(crate) fn random_fraction() -> f64 {
    let bits = RandomState::new().hash_one(std::time::SystemTime::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// The pause before reconnect number `failures` in a row (0: at once):
/// 0.5 s doubling, at most [`MAX_BACKOFF`], each drawn from its upper half.
pub(crate) fn backoff(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let base = Duration::from_millis(500).saturating_mul(1 << (failures - 1).min(16));
    base.min(MAX_BACKOFF).mul_f64(0.5 + random_fraction() / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_bounded() {
        assert_eq!(backoff(0), Duration::ZERO);
        for failures in 1..40 {
            let pause = backoff(failures);
            let full = Duration::from_millis(500)
                .saturating_mul(1 << (failures - 1).min(16))
                .min(MAX_BACKOFF);
            assert!(pause >= full / 2 && pause <= full, "{failures}: {pause:?}");
        }
        assert!(backoff(30) >= MAX_BACKOFF / 2);
    }

    #[test]
    fn random_fractions_are_in_range_and_vary() {
        let draws: Vec<f64> = (0..64).map(|_| random_fraction()).collect();
        assert!(draws.iter().all(|x| (0.0..1.0).contains(x)));
        assert!(draws.iter().any(|x| *x != draws[0]));
    }
}
