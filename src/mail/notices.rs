//! Key notices by email: a key about to expire, a key that expired, a key
//! found in public. Each goes to the key's owner and the workspace's admins,
//! as a row per recipient in `key_notices` written in the transaction of the
//! event (the sweep's claim, the leak's record), so that a notice exists if
//! and only if its event committed. The sender claims a person's due notices
//! with a lease and mails them in one message; a relay that refuses is tried
//! again with backoff, then given up (logged, never the message).
//!
//! Notices are queued only while this server sends email ([`Notices::Emailed`]):
//! turning email on later does not mail a backlog of stale warnings.

use super::{Mailer, letters};
use crate::clock::{Clock, from_micros, to_micros};
use crate::db::{Db, Tx};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

/// Whether key events become emailed notices on this server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notices {
    Emailed,
    Off,
}

impl Notices {
    pub fn of(mailer: Option<&Mailer>) -> Self {
        if mailer.is_some() {
            Self::Emailed
        } else {
            Self::Off
        }
    }
}

/// What happened to the key.
#[derive(Clone, Debug, PartialEq)]
pub enum NoticeKind {
    /// Its expiry date is `days_before` days away, or less.
    ExpiringSoon {
        days_before: i64,
        expires_at: DateTime<Utc>,
    },
    /// It reached its expiry date and stopped working.
    Expired { expires_at: DateTime<Utc> },
    /// Someone reported it found in public; `revoked` says whether the
    /// workspace's policy revoked it (otherwise it is flagged and still works).
    Leaked { url: Option<String>, revoked: bool },
}

impl NoticeKind {
    fn as_str(&self) -> &'static str {
        match self {
            Self::ExpiringSoon { .. } => "expiring_soon",
            Self::Expired { .. } => "expired",
            Self::Leaked { .. } => "leaked",
        }
    }

    fn details(&self) -> Value {
        match self {
            Self::ExpiringSoon {
                days_before,
                expires_at,
            } => json!({ "days_before": days_before, "expires_at": to_micros(*expires_at) }),
            Self::Expired { expires_at } => json!({ "expires_at": to_micros(*expires_at) }),
            Self::Leaked { url, revoked } => json!({ "url": url, "revoked": revoked }),
        }
    }

    /// The stored row back; `None` for a row this version cannot read.
    fn parse(kind: &str, details: &str) -> Option<Self> {
        let details: Value = serde_json::from_str(details).ok()?;
        let time = |name: &str| details[name].as_i64().map(from_micros);
        Some(match kind {
            "expiring_soon" => Self::ExpiringSoon {
                days_before: details["days_before"].as_i64()?,
                expires_at: time("expires_at")?,
            },
            "expired" => Self::Expired {
                expires_at: time("expires_at")?,
            },
            "leaked" => Self::Leaked {
                url: details["url"].as_str().map(str::to_owned),
                revoked: details["revoked"].as_bool()?,
            },
            _ => return None,
        })
    }
}

/// Queues `kind` about `key_id` for its owner (while a member) and every
/// admin of `workspace_id`, in the caller's transaction. Returns how many
/// people it is for.
pub async fn queue(
    tx: &mut Tx,
    notices: Notices,
    workspace_id: &str,
    key_id: &str,
    kind: NoticeKind,
    now: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    if notices == Notices::Off {
        return Ok(0);
    }
    let recipients: Vec<String> = sqlx::query_scalar(
        "SELECT m.user_id FROM memberships m
         WHERE m.workspace_id = $1
           AND (m.role = 'admin' OR m.user_id = (SELECT created_by FROM api_keys WHERE id = $2))
         ORDER BY m.user_id",
    )
    .bind(workspace_id)
    .bind(key_id)
    .fetch_all(&mut **tx)
    .await?;
    let details = kind.details().to_string();
    for user_id in &recipients {
        sqlx::query(
            "INSERT INTO key_notices (id, workspace_id, key_id, user_id, kind, details,
                 created_at, attempts, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $7)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(workspace_id)
        .bind(key_id)
        .bind(user_id)
        .bind(kind.as_str())
        .bind(&details)
        .bind(to_micros(now))
        .execute(&mut **tx)
        .await?;
    }
    Ok(recipients.len())
}

/// People mailed per pass; the next pass takes the rest.
const RECIPIENTS_PER_PASS: i64 = 50;
/// How long a claimed notice stays its sender's: well beyond one message's
/// SMTP conversation (each step of which may take the relay's timeout).
const LEASE: Duration = Duration::minutes(10);
/// The waits after the 1st, 2nd, … failed attempt; after the last, it is given up.
const RETRY_AFTER: [Duration; 4] = [
    Duration::minutes(1),
    Duration::minutes(5),
    Duration::minutes(30),
    Duration::hours(2),
];
/// A notice not sent within this long is given up: a warning of an expiry
/// that has passed, or of a leak long dealt with, would only mislead.
const STALE_AFTER: Duration = Duration::days(1);
/// How long notices are kept, sent or not.
const KEPT: Duration = Duration::days(30);

/// Mails due notices every `poll` (`KEYWARD_NOTICE_POLL_MS`) until the
/// process ends. (The expiry sweeper prunes old ones, mailer or not.)
pub fn spawn_sender(
    db: Db,
    clock: Clock,
    mailer: Mailer,
    public_url: String,
    poll: std::time::Duration,
) {
    tokio::spawn(async move {
        // First one poll after start, not at once with every other background task.
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + poll, poll);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = send_due(&db, &mailer, &public_url, &clock).await {
                tracing::warn!(%error, "could not send key notices; will retry");
            }
        }
    });
}

/// One pass: for each person with due notices (up to [`RECIPIENTS_PER_PASS`]),
/// claims them and mails them in one message. Returns how many messages the
/// relay took. Each claim reads the clock anew, so that a slow relay early
/// in the pass does not shorten the leases taken after it.
pub async fn send_due(
    db: &Db,
    mailer: &Mailer,
    public_url: &str,
    clock: &Clock,
) -> Result<usize, sqlx::Error> {
    let now = clock.now();
    let due: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT user_id FROM key_notices
         WHERE sent_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= $1
         ORDER BY user_id LIMIT $2",
    )
    .bind(to_micros(now))
    .bind(RECIPIENTS_PER_PASS)
    .fetch_all(db.pool())
    .await?;
    let mut sent = 0;
    for user_id in due {
        if send_to(db, mailer, public_url, &user_id, clock.now()).await? {
            sent += 1;
        }
    }
    Ok(sent)
}

/// A claimed notice with what its message says about the key.
#[derive(sqlx::FromRow)]
struct ClaimedNotice {
    id: String,
    kind: String,
    details: String,
    key_id: String,
    key_name: String,
    prefix: String,
    body_start: String,
    last4: String,
    environment: String,
    workspace_name: String,
    owner_name: String,
}

/// Claims `user_id`'s due notices and mails them; `false` when another
/// sender had them, nothing was left to say, or the relay refused.
async fn send_to(
    db: &Db,
    mailer: &Mailer,
    public_url: &str,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let lease_id = uuid::Uuid::new_v4().to_string();
    // One statement, so that two senders never both take a notice: the
    // second finds it no longer due.
    let claimed = sqlx::query(
        "UPDATE key_notices SET lease_id = $1, next_attempt_at = $2, attempts = attempts + 1
         WHERE user_id = $3 AND sent_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= $4",
    )
    .bind(&lease_id)
    .bind(to_micros(now + LEASE))
    .bind(user_id)
    .bind(to_micros(now))
    .execute(db.pool())
    .await?
    .rows_affected();
    if claimed == 0 {
        return Ok(false);
    }
    // Given up: notices gone stale, and those to someone who is no longer
    // the key's owner or an admin of its workspace (they left, or were made
    // a developer since).
    sqlx::query(
        "UPDATE key_notices SET given_up_at = $1
         WHERE lease_id = $2 AND (created_at < $3 OR NOT EXISTS (
             SELECT 1 FROM memberships m
             WHERE m.workspace_id = key_notices.workspace_id AND m.user_id = key_notices.user_id
               AND (m.role = 'admin'
                    OR m.user_id = (SELECT k.created_by FROM api_keys k WHERE k.id = key_notices.key_id))))",
    )
    .bind(to_micros(now))
    .bind(&lease_id)
    .bind(to_micros(now - STALE_AFTER))
    .execute(db.pool())
    .await?;
    let notices: Vec<ClaimedNotice> = sqlx::query_as(
        "SELECT n.id, n.kind, n.details, k.id AS key_id, k.name AS key_name, k.prefix, k.body_start,
                k.last4, k.environment, w.name AS workspace_name, o.name AS owner_name
         FROM key_notices n
         JOIN api_keys k ON k.id = n.key_id
         JOIN workspaces w ON w.id = n.workspace_id
         JOIN users o ON o.id = k.created_by
         WHERE n.lease_id = $1 AND n.given_up_at IS NULL
         ORDER BY n.created_at, n.id",
    )
    .bind(&lease_id)
    .fetch_all(db.pool())
    .await?;
    let (email, name): (String, String) =
        sqlx::query_as("SELECT email, name FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(db.pool())
            .await?;
    let mut ids = Vec::with_capacity(notices.len());
    let mut items = Vec::with_capacity(notices.len());
    for notice in notices {
        let Some(kind) = NoticeKind::parse(&notice.kind, &notice.details) else {
            // Written by a newer version (a rolling upgrade): this one cannot say it.
            tracing::warn!(kind = %notice.kind, "key notice: not readable here; given up");
            give_up(db, &notice.id, now).await?;
            continue;
        };
        ids.push(notice.id);
        items.push(letters::KeyNoticeItem {
            kind,
            key: format!(
                "{} ({})",
                notice.key_name,
                crate::keys::format::masked(&notice.prefix, &notice.body_start, &notice.last4)
            ),
            environment: notice.environment,
            owner: notice.owner_name,
            workspace: notice.workspace_name,
            link: format!("{public_url}/settings/api-keys/{}", notice.key_id),
        });
    }
    if items.is_empty() {
        return Ok(false);
    }
    match mailer
        .send(letters::key_notices(&email, &name, &items))
        .await
    {
        Ok(()) => {
            for id in &ids {
                mark_sent(db, id, now).await?;
            }
            Ok(true)
        }
        Err(error) => {
            tracing::warn!(%error, notices = items.len(), "key notices: not sent; will retry");
            schedule_retry(db, &lease_id, now).await?;
            Ok(false)
        }
    }
}

async fn mark_sent(db: &Db, id: &str, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE key_notices SET sent_at = $1 WHERE id = $2")
        .bind(to_micros(now))
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

async fn give_up(db: &Db, id: &str, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE key_notices SET given_up_at = $1 WHERE id = $2")
        .bind(to_micros(now))
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// After a refusal, each claimed notice by its own count: due again after
/// its attempt's wait, or given up after the last attempt.
async fn schedule_retry(db: &Db, lease_id: &str, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    let [first, second, third, fourth] = RETRY_AFTER.map(|wait| to_micros(now + wait));
    sqlx::query(
        "UPDATE key_notices SET
             next_attempt_at = CASE attempts WHEN 1 THEN $1 WHEN 2 THEN $2 WHEN 3 THEN $3
                                             WHEN 4 THEN $4 ELSE next_attempt_at END,
             given_up_at = CASE WHEN attempts > $5 THEN $6 ELSE NULL END
         WHERE lease_id = $7 AND given_up_at IS NULL AND sent_at IS NULL",
    )
    .bind(first)
    .bind(second)
    .bind(third)
    .bind(fourth)
    .bind(RETRY_AFTER.len() as i64)
    .bind(to_micros(now))
    .bind(lease_id)
    .execute(db.pool())
    .await?;
    // Counted by attempts: the claim may have given up others at the same instant.
    let given_up: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM key_notices
         WHERE lease_id = $1 AND given_up_at IS NOT NULL AND attempts > $2",
    )
    .bind(lease_id)
    .bind(RETRY_AFTER.len() as i64)
    .fetch_one(db.pool())
    .await?;
    if given_up > 0 {
        tracing::warn!(
            notices = given_up,
            "key notices: given up after every attempt failed"
        );
    }
    Ok(())
}

/// Deletes notices older than [`KEPT`], sent or not (pending ones left
/// behind when email was turned off). Returns how many.
pub async fn prune(db: &Db, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM key_notices WHERE created_at < $1")
        .bind(to_micros(now - KEPT))
        .execute(db.pool())
        .await?
        .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_row() {
        let at = from_micros(to_micros(Utc::now()));
        for kind in [
            NoticeKind::ExpiringSoon {
                days_before: 7,
                expires_at: at,
            },
            NoticeKind::Expired { expires_at: at },
            NoticeKind::Leaked {
                url: Some("https://github.com/acme/app/blob/main/.env".into()),
                revoked: true,
            },
            NoticeKind::Leaked {
                url: None,
                revoked: false,
            },
        ] {
            let back = NoticeKind::parse(kind.as_str(), &kind.details().to_string());
            assert_eq!(back, Some(kind));
        }
        assert_eq!(NoticeKind::parse("unknown", "{}"), None);
        assert_eq!(NoticeKind::parse("expired", "not json"), None);
    }
}
