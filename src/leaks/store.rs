//! Acting on a leak report: find which tokens are keys this Keyward issued (by
//! their digest, in batches), and for each one record the leak, mark the key
//! and, when the workspace's policy says so, revoke it through the keys'
//! revoke path. Also the workspace's leak policy (Settings → Workspace).

use super::report::{Feedback, Label, LeakReport, ReportedToken};
use super::{LeakAction, LeakPolicy, LeakPolicyView};
use crate::audit::AuditAction;
use crate::audit::store::{Actor, ClientInfo, NewEntry, Target, TargetKind, append};
use crate::auth::access::Member;
use crate::changes::Change;
use crate::clock::{from_micros, to_micros};
use crate::db::Db;
use crate::error::AppError;
use crate::ids::KeyId;
use crate::keys::format::{self, masked};
use crate::keys::{Environment, KeyStatus, MAX_REASON_CHARS};
use crate::mail::notices::{NoticeKind, Notices};
use crate::workspaces::Role;
use crate::workspaces::store::lock;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::Row;
use std::collections::HashMap;

/// Digests looked up per query: well under both backends' parameter limits.
const LOOKUP_BATCH: usize = 500;

/// Who sent the report, and so whose keys it may touch.
#[derive(Clone, Copy, Debug)]
pub enum Reporter<'a> {
    /// GitHub's secret-scanning partner program: any workspace's keys.
    Github,
    /// A workspace's own scanner, through one of its service tokens: that workspace's keys only.
    ServiceToken {
        token_id: &'a str,
        workspace_id: &'a str,
    },
}

impl Reporter<'_> {
    fn audit_json(self) -> serde_json::Value {
        match self {
            Self::Github => json!("github"),
            Self::ServiceToken { token_id, .. } => json!({ "service_token": token_id }),
        }
    }
}

/// What happened to one reported key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Revoked,
    Flagged,
    /// Revoked before this report: recorded, not repeated.
    AlreadyRevoked,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Revoked => "revoked",
            Self::Flagged => "flagged",
            Self::AlreadyRevoked => "already_revoked",
        }
    }
}

/// Acts on every reported token that is one of this deployment's keys (of the
/// reporter's workspace, for a service token) and answers GitHub's feedback,
/// one entry per distinct token, in the report's order.
pub async fn act_on_report(
    db: &Db,
    notices: Notices,
    reporter: Reporter<'_>,
    report: &LeakReport,
    key_prefix: &str,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<Vec<Feedback>, sqlx::Error> {
    // Only tokens in our format (prefix and checksum) can be ours: the rest cost no query.
    let candidates: Vec<&str> = report
        .tokens
        .iter()
        .filter(|reported| format::parse(reported.expose(), key_prefix).is_ok())
        .map(|reported| reported.token_hash.as_str())
        .collect();
    let found = keys_by_digest(db, reporter, &candidates).await?;
    let mut feedback = Vec::with_capacity(report.tokens.len());
    for reported in &report.tokens {
        let label = match found.get(&reported.token_hash) {
            Some(key) => {
                record_leak(db, notices, reporter, key, reported, now, client).await?;
                Label::TruePositive
            }
            None => Label::FalsePositive,
        };
        feedback.push(Feedback {
            token_hash: reported.token_hash.clone(),
            token_type: reported.token_type.clone(),
            label,
        });
    }
    Ok(feedback)
}

/// A reported key: its id and workspace, by digest.
struct FoundKey {
    id: String,
    workspace_id: String,
}

async fn keys_by_digest(
    db: &Db,
    reporter: Reporter<'_>,
    digests: &[&str],
) -> Result<HashMap<String, FoundKey>, sqlx::Error> {
    let mut found = HashMap::new();
    for batch in digests.chunks(LOOKUP_BATCH) {
        let placeholders: Vec<String> = (1..=batch.len()).map(|n| format!("${n}")).collect();
        let mut sql = format!(
            "SELECT id, workspace_id, digest FROM api_keys WHERE digest IN ({})",
            placeholders.join(", ")
        );
        if let Reporter::ServiceToken { .. } = reporter {
            sql.push_str(&format!(" AND workspace_id = ${}", batch.len() + 1));
        }
        let mut query = sqlx::query(&sql);
        for digest in batch {
            query = query.bind(*digest);
        }
        if let Reporter::ServiceToken { workspace_id, .. } = reporter {
            query = query.bind(workspace_id);
        }
        for row in query.fetch_all(db.pool()).await? {
            found.insert(
                row.try_get("digest")?,
                FoundKey {
                    id: row.try_get("id")?,
                    workspace_id: row.try_get("workspace_id")?,
                },
            );
        }
    }
    Ok(found)
}

/// One leaked key, in one transaction: the mark (first report only), the
/// `key.leaked` entry (every report) and, by policy, the revocation.
async fn record_leak(
    db: &Db,
    notices: Notices,
    reporter: Reporter<'_>,
    key: &FoundKey,
    reported: &ReportedToken,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    lock(&mut tx, &key.workspace_id).await?;
    let row = sqlx::query(
        "SELECT k.name, k.prefix, k.body_start, k.last4, k.environment, k.revoked_at,
                k.grace_ends_at, k.expires_at, k.leaked_at,
                w.leak_policy_live, w.leak_policy_test, w.leak_policy_scanners
         FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id WHERE k.id = $1",
    )
    .bind(&key.id)
    .fetch_one(&mut *tx)
    .await?;
    let label = crate::audit::store::secret_label(
        &row.try_get::<String, _>("name")?,
        &masked(
            &row.try_get::<String, _>("prefix")?,
            &row.try_get::<String, _>("body_start")?,
            &row.try_get::<String, _>("last4")?,
        ),
    );
    let time = |column: &str| -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        Ok(row.try_get::<Option<i64>, _>(column)?.map(from_micros))
    };
    let status = KeyStatus::at(
        now,
        time("revoked_at")?,
        time("grace_ends_at")?,
        time("expires_at")?,
    );
    let first_report = time("leaked_at")?.is_none();
    let environment = Environment::parse(&row.try_get::<String, _>("environment")?);
    let policy = policy_of(&row)?;
    let from_scanner = matches!(reporter, Reporter::ServiceToken { .. });
    // An unreadable environment cannot be ours to keep working: revoke.
    let action = environment.map_or(LeakAction::Revoke, |env| {
        policy.for_report(env, from_scanner)
    });
    if first_report {
        sqlx::query(
            "UPDATE api_keys SET leaked_at = $1, leaked_url = $2, leaked_source = $3 WHERE id = $4",
        )
        .bind(to_micros(now))
        .bind(reported.url.as_deref())
        .bind(reported.source.as_deref())
        .bind(&key.id)
        .execute(&mut *tx)
        .await?;
    }
    let outcome = match (status, action) {
        (KeyStatus::Revoked, _) => Outcome::AlreadyRevoked,
        (_, LeakAction::Revoke) => Outcome::Revoked,
        (_, LeakAction::Flag) => Outcome::Flagged,
    };
    append(
        &mut tx,
        now,
        NewEntry {
            workspace_id: Some(&key.workspace_id),
            actor: Actor::SYSTEM,
            action: AuditAction::KeyLeaked,
            target: Some(Target::new(TargetKind::Key, &key.id, &label)),
            client,
            // Where it was found, never the token.
            changes: Some(json!({
                "found": {
                    "url": reported.url,
                    "source": reported.source,
                    "token_type": reported.token_type,
                },
                "reported_by": reporter.audit_json(),
                "first_report": first_report,
                "policy": action.as_str(),
                "outcome": outcome.as_str(),
            })),
        },
    )
    .await?;
    // Told to webhooks in this transaction: the event exists if the leak was recorded.
    crate::webhooks::outbox::key_event(
        &mut tx,
        &key.workspace_id,
        crate::webhooks::EventType::KeyLeaked,
        &key.id,
        crate::webhooks::outbox::EventActor::SYSTEM,
        json!({
            "found": { "url": reported.url, "source": reported.source },
            "first_report": first_report,
            "outcome": outcome.as_str(),
        }),
        now,
    )
    .await?;
    // The owner and the admins hear of a leak once, and not of a key that no longer works.
    if first_report && outcome != Outcome::AlreadyRevoked {
        let kind = NoticeKind::Leaked {
            url: reported.url.clone(),
            revoked: outcome == Outcome::Revoked,
        };
        crate::mail::notices::queue(&mut tx, notices, &key.workspace_id, &key.id, kind, now)
            .await?;
    }
    let mut digest = None;
    if outcome == Outcome::Revoked {
        digest = crate::keys::store::revoke_leaked(
            &mut tx,
            &key.workspace_id,
            (KeyId(&key.id), &label),
            status,
            &revoke_reason(reported),
            now,
            client,
        )
        .await?;
    }
    tx.commit().await?;
    crate::webhooks::outbox::wake(db);
    if let Some(digest) = digest {
        db.changes().publish(&Change::Keys(vec![digest]));
    }
    tracing::info!(
        key_id = %key.id,
        workspace_id = %key.workspace_id,
        outcome = outcome.as_str(),
        "a leak report named a key"
    );
    Ok(())
}

/// "leaked: found at https://github.com/…", within the reason's length limit.
fn revoke_reason(reported: &ReportedToken) -> String {
    let reason = match (&reported.url, &reported.source) {
        (Some(url), _) => format!("leaked: found at {url}"),
        (None, Some(source)) => format!("leaked: found in {source}"),
        (None, None) => "leaked: reported by a secret scanner".to_owned(),
    };
    reason.chars().take(MAX_REASON_CHARS).collect()
}

fn action_column(row: &sqlx::any::AnyRow, column: &str) -> Result<LeakAction, sqlx::Error> {
    let text: String = row.try_get(column)?;
    LeakAction::parse(&text).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("workspaces.{column}: {text:?} is not revoke or flag").into(),
    })
}

/// The three policy columns of a `workspaces` row.
fn policy_of(row: &sqlx::any::AnyRow) -> Result<LeakPolicy, sqlx::Error> {
    Ok(LeakPolicy {
        live: action_column(row, "leak_policy_live")?,
        test: action_column(row, "leak_policy_test")?,
        scanners: action_column(row, "leak_policy_scanners")?,
    })
}

const POLICY_QUERY: &str =
    "SELECT leak_policy_live, leak_policy_test, leak_policy_scanners FROM workspaces WHERE id = $1";

/// The workspace's leak policy, as `member` sees it.
pub async fn policy(db: &Db, member: &Member) -> Result<LeakPolicyView, AppError> {
    let row = sqlx::query(POLICY_QUERY)
        .bind(&member.workspace_id)
        .fetch_one(db.pool())
        .await?;
    Ok(LeakPolicyView {
        policy: policy_of(&row)?,
        can_change: member.role.includes(Role::Admin),
    })
}

/// Sets the workspace's leak policy (admins only), recording `settings.changed`
/// with the policy before and after. Saving the same policy records nothing.
/// `scanners: None` keeps that setting as it is.
pub async fn set_policy(
    db: &Db,
    member: &Member,
    live: LeakAction,
    test: LeakAction,
    scanners: Option<LeakAction>,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    member.require(Role::Admin)?;
    let mut tx = db.begin().await?;
    lock(&mut tx, &member.workspace_id).await?;
    let row = sqlx::query(POLICY_QUERY)
        .bind(&member.workspace_id)
        .fetch_one(&mut *tx)
        .await?;
    let before = policy_of(&row)?;
    let policy = LeakPolicy {
        live,
        test,
        scanners: scanners.unwrap_or(before.scanners),
    };
    if before == policy {
        return Ok(());
    }
    sqlx::query(
        "UPDATE workspaces SET leak_policy_live = $1, leak_policy_test = $2, leak_policy_scanners = $3
         WHERE id = $4",
    )
        .bind(policy.live.as_str())
        .bind(policy.test.as_str())
        .bind(policy.scanners.as_str())
        .bind(&member.workspace_id)
        .execute(&mut *tx)
        .await?;
    let as_json = |policy: LeakPolicy| json!({ "leak_policy": { "live": policy.live, "test": policy.test, "scanners": policy.scanners } });
    append(
        &mut tx,
        now,
        NewEntry::by_member(
            member,
            AuditAction::SettingsChanged,
            Target::new(
                TargetKind::Workspace,
                &member.workspace_id,
                &member.workspace_name,
            ),
            client,
        )
        .with_changes(json!({ "before": as_json(before), "after": as_json(policy) })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
