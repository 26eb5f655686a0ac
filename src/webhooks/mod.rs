//! Webhooks out (issue 16, docs/webhooks.md): admins register HTTPS endpoints
//! in Settings → Webhooks; key and member changes are told to them as signed
//! Standard Webhooks messages, delivered at least once.
//!
//! The outbox (`outbox`) writes each event in the transaction of the change it
//! reports; the worker (`worker`) delivers it with retries; `signing` makes the
//! `webhook-signature` header; `address` refuses private destinations (SSRF).
//! Types here are shared with the browser (the settings page renders them).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod address;
pub mod api;
#[cfg(feature = "ssr")]
pub mod outbox;
#[cfg(feature = "ssr")]
pub mod schedule;
#[cfg(feature = "ssr")]
pub mod signing;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod worker;

/// The kinds of event an endpoint can ask for. The string form is the payload's `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    KeyCreated,
    KeyRotated,
    KeyRevoked,
    KeyLeaked,
    /// A key reached its expiry date or the end of its rotation's grace window.
    KeyExpired,
    /// A key's expiry date is 7 days away, then 1 day away (once each).
    KeyExpiringSoon,
    /// A key was refused for its rate limit (at most once per key per hour).
    UsageRateLimited,
    MemberRemoved,
    /// The head of the workspace's audit chain, hourly and on demand (docs/audit.md, "Checkpoints").
    AuditCheckpoint,
    /// "Send test event" on the settings page; every endpoint receives it when asked.
    Test,
}

impl EventType {
    /// What an endpoint may subscribe to (the test event is sent on request only).
    pub const SUBSCRIBABLE: [EventType; 9] = [
        Self::KeyCreated,
        Self::KeyRotated,
        Self::KeyRevoked,
        Self::KeyLeaked,
        Self::KeyExpired,
        Self::KeyExpiringSoon,
        Self::UsageRateLimited,
        Self::MemberRemoved,
        Self::AuditCheckpoint,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeyCreated => "key.created",
            Self::KeyRotated => "key.rotated",
            Self::KeyRevoked => "key.revoked",
            Self::KeyLeaked => "key.leaked",
            Self::KeyExpired => "key.expired",
            Self::KeyExpiringSoon => "key.expiring_soon",
            Self::UsageRateLimited => "usage.rate_limited",
            Self::MemberRemoved => "member.removed",
            Self::AuditCheckpoint => "audit.checkpoint",
            Self::Test => "test",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::SUBSCRIBABLE
            .into_iter()
            .chain([Self::Test])
            .find(|event| event.as_str() == text)
    }

    /// What the settings page says beside its checkbox.
    pub fn description(self) -> &'static str {
        match self {
            Self::KeyCreated => "An API key was created",
            Self::KeyRotated => "An API key was rotated (the replacement is named in the payload)",
            Self::KeyRevoked => "An API key was revoked, by a person or automatically",
            Self::KeyLeaked => "A secret scanner reported an API key",
            Self::KeyExpired => {
                "An API key stopped working: its expiry date or its rotation's grace window passed"
            }
            Self::KeyExpiringSoon => "An API key expires in 7 days, then in 1 day",
            Self::UsageRateLimited => {
                "An API key was refused for its rate limit (at most hourly per key)"
            }
            Self::MemberRemoved => "A member was removed from the workspace",
            Self::AuditCheckpoint => {
                "The audit log's newest entry and hash, hourly: keep it to prove later that no entry was dropped"
            }
            Self::Test => "Sent by “Send test event”",
        }
    }
}

/// How one delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryStatus {
    /// Not yet answered with a 2xx; another attempt is scheduled.
    Pending,
    Delivered,
    /// Every scheduled attempt failed; "Resend" schedules it again.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

/// One delivery as the settings page lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub id: String,
    /// The `webhook-id` the receiver sees.
    pub event_id: String,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
    /// The last attempt's error, when it got no answer (timeout, refused address).
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
}

/// One endpoint as the settings page shows it. Never its secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    pub description: String,
    pub events: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Why it is disabled: by an admin, or automatically after three days of failures.
    pub disabled_reason: Option<String>,
    /// Until when the secret before the last rotation still signs.
    pub previous_secret_until: Option<DateTime<Utc>>,
    /// Delivered / (delivered + failed) over the last 7 days, in percent; `None` with none finished.
    pub success_rate: Option<u8>,
    pub recent: Vec<DeliveryView>,
}

/// Settings → Webhooks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhooksPage {
    pub endpoints: Vec<EndpointView>,
    pub now: DateTime<Utc>,
}

/// The one response that carries an endpoint's signing secret (on creation and rotation).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedWebhookSecret {
    pub endpoint_id: String,
    pub url: String,
    pub secret: String,
}

impl std::fmt::Debug for CreatedWebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedWebhookSecret")
            .field("endpoint_id", &self.endpoint_id)
            .field("url", &self.url)
            .field("secret", &"…")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip_through_their_names() {
        for event in EventType::SUBSCRIBABLE.into_iter().chain([EventType::Test]) {
            assert_eq!(EventType::parse(event.as_str()), Some(event));
        }
        assert_eq!(EventType::parse("key.exploded"), None);
    }
}
