//! How key changes are written to the audit log: labels, settings, entries.

use super::KeyStatus;
use super::format::{DisplayParts, masked};
use super::new_key::NewKey;
use crate::audit::AuditAction;
use crate::audit::store::{ClientInfo, NewEntry, Target, TargetKind, append};
use crate::auth::access::Member;
use crate::db::Tx;
use chrono::{DateTime, Utc};
use serde_json::json;

/// A key as an audit entry names it.
pub(super) struct KeyLabel<'a> {
    pub(super) id: &'a str,
    pub(super) label: &'a str,
}

/// Appends `member`'s `action` on one key, in the caller's transaction.
pub(super) async fn record(
    tx: &mut Tx,
    member: &Member,
    action: AuditAction,
    key: KeyLabel<'_>,
    changes: serde_json::Value,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), sqlx::Error> {
    let entry = NewEntry::by_member(
        member,
        action,
        Target::new(TargetKind::Key, key.id, key.label),
        client,
    )
    .with_changes(changes);
    append(tx, now, entry).await
}

/// "Billing backend (kw_live_3fJ9…a1b2)", as audit sentences name a key.
pub(super) fn target_label(name: &str, masked: &str) -> String {
    crate::audit::store::secret_label(name, masked)
}

/// A key's id and what its audit label is made of, as
/// `SELECT id, name, prefix, body_start, last4` reads them.
#[derive(sqlx::FromRow)]
pub(super) struct LabelledKey {
    pub(super) id: String,
    name: String,
    prefix: String,
    body_start: String,
    last4: String,
}

impl LabelledKey {
    pub(super) fn label(&self) -> String {
        target_label(
            &self.name,
            &masked(&self.prefix, &self.body_start, &self.last4),
        )
    }
}

pub(super) fn parts_label(name: &str, parts: &DisplayParts) -> String {
    target_label(name, &masked(&parts.prefix, &parts.start, &parts.last4))
}

/// The settings an audit entry records for a new key. Never the secret.
/// Restrictions appear only when the key has them.
pub(super) fn settings_json(new: &NewKey, now: DateTime<Utc>) -> serde_json::Value {
    let mut settings = json!({
        "status": KeyStatus::Active,
        "name": new.name,
        "note": new.note,
        "environment": new.environment,
        "scopes": new.scopes,
        "expires_at": new.expiry.expires_at(now),
        "rate_limit_per_minute": new.rate_limit_per_minute,
        "minted_by_key": new.minted_by_key,
    });
    if let Some(burst) = new.rate_limit_burst {
        settings["rate_limit_burst"] = json!(burst);
    }
    if let Some(allowlist) = &new.ip_allowlist {
        settings["ip_allowlist"] = json!(allowlist.entries());
    }
    if let Some(credits) = &new.credits {
        settings["credits"] = json!(credits.view(now));
    }
    settings
}
