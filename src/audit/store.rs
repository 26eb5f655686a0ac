//! Appending to `audit_entries` (reading pages is in `query`). Appends take the caller's
//! transaction, so an entry is written if and only if the change it records is.

use super::chain::{self, Canonical};
use super::{AuditAction, AuditEntryView};
use crate::clock::{from_micros, to_micros};
use crate::db::{Db, Tx};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// Where a request came from, as the audit log records it.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Who did it: a signed-in user (or one identified by the email they typed),
/// an API key acting for its creator, or the system.
pub struct Actor<'a> {
    pub user_id: Option<&'a str>,
    pub label: &'a str,
    /// The person's email at the time, when a person is behind the action.
    pub email: Option<&'a str>,
}

impl<'a> Actor<'a> {
    /// Automatic changes (expiry, auto-revocation) that no person chose.
    pub const SYSTEM: Actor<'static> = Actor {
        user_id: None,
        label: "system",
        email: None,
    };

    /// A user, named as the log shows them.
    pub fn user(user: &'a crate::auth::users::User) -> Self {
        Self {
            user_id: Some(&user.id),
            label: &user.name,
            email: Some(&user.email),
        }
    }

    /// A member acting in their workspace (in person, or through one of their API keys).
    pub fn member(member: &'a crate::auth::access::Member) -> Self {
        Self {
            user_id: Some(&member.user_id),
            label: &member.name,
            email: Some(&member.email),
        }
    }
}

/// What it was done to.
/// What an audit entry is about, as `audit_entries.target_type` stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetKind {
    Key,
    ServiceToken,
    User,
    Invite,
    Workspace,
    Webhook,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::ServiceToken => "service_token",
            Self::User => "user",
            Self::Invite => "invite",
            Self::Workspace => "workspace",
            Self::Webhook => "webhook",
        }
    }
}

impl<'a> Target<'a> {
    pub fn new(kind: TargetKind, id: &'a str, label: &'a str) -> Self {
        Self { kind, id, label }
    }
}

/// "Billing backend (kw_live_3fJ9…a1b2)": how audit sentences name a key or
/// a service token, by its name and masked secret.
pub fn secret_label(name: &str, masked: &str) -> String {
    format!("{name} ({masked})")
}

pub struct Target<'a> {
    pub kind: TargetKind,
    pub id: &'a str,
    pub label: &'a str,
}

pub struct NewEntry<'a> {
    /// `None` for account events (sign-in, sign-out) that belong to a user, not a workspace.
    pub workspace_id: Option<&'a str>,
    pub actor: Actor<'a>,
    pub action: AuditAction,
    pub target: Option<Target<'a>>,
    pub client: &'a ClientInfo,
    /// Before/after values; never a secret.
    pub changes: Option<serde_json::Value>,
}

impl<'a> NewEntry<'a> {
    /// `member`'s `action` on `target`, in their workspace: most entries.
    pub fn by_member(
        member: &'a crate::auth::access::Member,
        action: AuditAction,
        target: Target<'a>,
        client: &'a ClientInfo,
    ) -> Self {
        Self {
            workspace_id: Some(&member.workspace_id),
            actor: Actor::member(member),
            action,
            target: Some(target),
            client,
            changes: None,
        }
    }

    /// The entry with its before/after values.
    pub fn with_changes(self, changes: serde_json::Value) -> Self {
        Self {
            changes: Some(changes),
            ..self
        }
    }
}

/// Longest user agent kept; the rest is noise and a way to bloat the log.
const MAX_USER_AGENT_CHARS: usize = 300;

pub async fn append(
    tx: &mut Tx,
    at: DateTime<Utc>,
    entry: NewEntry<'_>,
) -> Result<(), sqlx::Error> {
    let user_agent = entry
        .client
        .user_agent
        .as_deref()
        .map(|agent| agent.chars().take(MAX_USER_AGENT_CHARS).collect::<String>());
    let id = uuid::Uuid::new_v4().to_string();
    let changes = entry.changes.map(|changes| changes.to_string());
    let target = entry.target.as_ref();
    let canonical = Canonical {
        id: &id,
        workspace_id: entry.workspace_id,
        at: to_micros(at),
        actor_user_id: entry.actor.user_id,
        actor_label: entry.actor.label,
        actor_email: entry.actor.email,
        action: entry.action.as_str(),
        target_type: target.map(|t| t.kind.as_str()),
        target_id: target.map(|t| t.id),
        target_label: target.map(|t| t.label),
        ip: entry.client.ip.as_deref(),
        user_agent: user_agent.as_deref(),
        changes: changes.as_deref(),
    };
    let prev_hash = chain::lock_and_read_head(tx, entry.workspace_id).await?;
    let hash = canonical.hash(prev_hash.as_deref());
    sqlx::query(
        "INSERT INTO audit_entries (id, workspace_id, at, actor_user_id, actor_label, action,
             target_type, target_id, target_label, ip, user_agent, changes, prev_hash, hash,
             actor_email)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(canonical.id)
    .bind(canonical.workspace_id)
    .bind(canonical.at)
    .bind(canonical.actor_user_id)
    .bind(canonical.actor_label)
    .bind(canonical.action)
    .bind(canonical.target_type)
    .bind(canonical.target_id)
    .bind(canonical.target_label)
    .bind(canonical.ip)
    .bind(canonical.user_agent)
    .bind(canonical.changes)
    .bind(prev_hash)
    .bind(hash)
    .bind(canonical.actor_email)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Every entry about one target (a key's history), newest first.
pub async fn about_target(
    db: &Db,
    workspace_id: &str,
    target_type: TargetKind,
    target_id: &str,
) -> Result<Vec<AuditEntryView>, sqlx::Error> {
    sqlx::query(
        "SELECT seq, id, at, actor_label, actor_email, action, target_label, ip, user_agent, changes
         FROM audit_entries WHERE workspace_id = $1 AND target_type = $2 AND target_id = $3
         ORDER BY seq DESC LIMIT 200",
    )
    .bind(workspace_id)
    .bind(target_type.as_str())
    .bind(target_id)
    .fetch_all(db.pool())
    .await?
    .into_iter()
    .map(entry_view)
    .collect()
}

pub(super) fn entry_view(row: sqlx::any::AnyRow) -> Result<AuditEntryView, sqlx::Error> {
    let changes: Option<String> = row.try_get("changes")?;
    Ok(AuditEntryView {
        id: row.try_get("id")?,
        at: from_micros(row.try_get("at")?),
        actor: row.try_get("actor_label")?,
        actor_email: row.try_get("actor_email")?,
        action: row.try_get("action")?,
        target: row.try_get("target_label")?,
        ip: row.try_get("ip")?,
        user_agent: row.try_get("user_agent")?,
        changes: changes.map(|text| {
            serde_json::from_str::<serde_json::Value>(&text)
                .and_then(|value| serde_json::to_string_pretty(&value))
                .unwrap_or(text)
        }),
    })
}
