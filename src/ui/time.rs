//! Times as people read them: "3 minutes ago", with the exact UTC time on hover.

use chrono::{DateTime, Utc};

/// "just now", "5 minutes ago", "in 6 days", relative to `now`.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - at).num_seconds();
    let future = seconds < 0;
    let seconds = seconds.abs();
    if seconds < 45 {
        return if future {
            "in a few seconds".into()
        } else {
            "just now".into()
        };
    }
    let (amount, unit) = match seconds {
        s if s < 90 * 60 => ((s + 30) / 60, "minute"),
        s if s < 36 * 3600 => ((s + 1800) / 3600, "hour"),
        s if s < 45 * 86400 => ((s + 43200) / 86400, "day"),
        s if s < 365 * 86400 => ((s + 15 * 86400) / (30 * 86400), "month"),
        s => ((s + 182 * 86400) / (365 * 86400), "year"),
    };
    let plural = if amount == 1 { "" } else { "s" };
    if future {
        format!("in {amount} {unit}{plural}")
    } else {
        format!("{amount} {unit}{plural} ago")
    }
}

/// The exact time, for a `title` attribute.
pub fn exact(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn reads_like_a_person_would_say_it() {
        let now = Utc::now();
        assert_eq!(relative(now, now), "just now");
        assert_eq!(relative(now - Duration::minutes(3), now), "3 minutes ago");
        assert_eq!(relative(now - Duration::minutes(1), now), "1 minute ago");
        assert_eq!(relative(now - Duration::hours(5), now), "5 hours ago");
        assert_eq!(relative(now + Duration::days(7), now), "in 7 days");
        assert_eq!(relative(now - Duration::days(400), now), "1 year ago");
    }
}
