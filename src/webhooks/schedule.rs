//! When a delivery is tried again, and the other knobs of the worker
//! (`KEYWARD_WEBHOOK_*`, README): exponential backoff with jitter from the
//! first retry delay to the last over the configured attempts.

use std::time::Duration;

/// The worker's settings, from `Config`.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookSettings {
    /// `KEYWARD_WEBHOOK_ALLOW_PRIVATE`: deliver to loopback and private
    /// addresses, and over plain HTTP (tests, or a deployment whose receivers
    /// are inside its own network).
    pub allow_private: bool,
    /// `KEYWARD_WEBHOOK_TIMEOUT_MS`: how long one attempt may take, answer included.
    pub timeout: Duration,
    /// `KEYWARD_WEBHOOK_RETRY_FIRST_MS`: the delay before the second attempt.
    pub first_retry: Duration,
    /// `KEYWARD_WEBHOOK_RETRY_LAST_MS`: the delay before the last attempt.
    pub last_retry: Duration,
    /// `KEYWARD_WEBHOOK_ATTEMPTS`: attempts in all, the first included.
    pub attempts: u32,
    /// `KEYWARD_WEBHOOK_POLL_MS`: how often the worker looks for due deliveries
    /// besides being woken by this instance's enqueues (other instances' events,
    /// retries that came due).
    pub poll: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_private: false,
            timeout: Duration::from_secs(10),
            first_retry: Duration::from_secs(5),
            last_retry: Duration::from_secs(8 * 3600),
            attempts: 8,
            poll: Duration::from_secs(5),
        }
    }
}

impl WebhookSettings {
    /// How long a claimed delivery stays its worker's: one attempt's timeout
    /// and some slack for recording it. A worker killed mid-delivery leaves
    /// the delivery to others once this has passed.
    pub fn lease(&self) -> Duration {
        super::address::LOOKUP_LIMIT + self.timeout + Duration::from_secs(5)
    }

    /// The delay before attempt `failed + 1`, after `failed` attempts failed
    /// (1 ≤ failed < attempts), without jitter: `first · r^(failed-1)`, where r
    /// takes the first delay to the last over the retries.
    pub fn base_delay(&self, failed: u32) -> Duration {
        let retries = self.attempts.saturating_sub(1).max(1);
        let first = self.first_retry.as_secs_f64();
        let last = self.last_retry.as_secs_f64().max(first);
        let step = failed.clamp(1, retries) - 1;
        let ratio = if retries > 1 {
            (last / first).powf(1.0 / f64::from(retries - 1))
        } else {
            1.0
        };
        Duration::from_secs_f64((first * ratio.powi(step as i32)).min(last))
    }

    /// [`base_delay`](Self::base_delay) with ±20 % jitter, so that the
    /// deliveries of one outage do not all come back at the same instant.
    /// `unit` is a random number in [0, 1).
    pub fn delay(&self, failed: u32, unit: f64) -> Duration {
        let jitter = 0.8 + 0.4 * unit.clamp(0.0, 1.0);
        self.base_delay(failed).mul_f64(jitter)
    }

    /// Whether a delivery that has failed `failed` times gets another attempt.
    pub fn retries_left(&self, failed: u32) -> bool {
        failed < self.attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_goes_from_five_seconds_to_eight_hours_over_eight_attempts() {
        let settings = WebhookSettings::default();
        let delays: Vec<u64> = (1..8).map(|n| settings.base_delay(n).as_secs()).collect();
        assert_eq!(delays.first(), Some(&5));
        assert_eq!(delays.last(), Some(&(8 * 3600)));
        assert!(
            delays.windows(2).all(|pair| pair[0] < pair[1]),
            "{delays:?}"
        );
        assert!(settings.retries_left(7));
        assert!(!settings.retries_left(8));
    }

    #[test]
    fn jitter_stays_within_a_fifth_of_the_delay() {
        let settings = WebhookSettings::default();
        let base = settings.base_delay(3).as_secs_f64();
        for unit in [0.0, 0.5, 0.999] {
            let delay = settings.delay(3, unit).as_secs_f64();
            assert!(
                delay >= base * 0.8 - 1e-9 && delay <= base * 1.2 + 1e-9,
                "{delay}"
            );
        }
    }
}
