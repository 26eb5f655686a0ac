//! Tamper evidence: each workspace's entries form a SHA-256 hash chain (account
//! events, which belong to no workspace, form one chain of their own). An entry
//! stores its predecessor's hash and the hash of its own canonical content plus
//! that predecessor hash, so editing, deleting or reordering any entry behind
//! the triggers' back breaks every link after it.

use crate::db::{Db, Tx};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

/// The fields an entry's hash covers, in a fixed order.
pub struct Canonical<'a> {
    pub id: &'a str,
    pub workspace_id: Option<&'a str>,
    pub at: i64,
    pub actor_user_id: Option<&'a str>,
    pub actor_label: &'a str,
    /// Added after the first release: hashed only when present.
    pub actor_email: Option<&'a str>,
    pub action: &'a str,
    pub target_type: Option<&'a str>,
    pub target_id: Option<&'a str>,
    pub target_label: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub changes: Option<&'a str>,
}

impl Canonical<'_> {
    /// SHA-256 (hex) of the fields as a JSON array, followed by the predecessor's hash.
    /// A JSON array keeps field boundaries unambiguous whatever the values contain.
    /// Fields added later come after the predecessor's hash and only when present,
    /// so entries written before them keep their hashes.
    pub fn hash(&self, prev_hash: Option<&str>) -> String {
        let mut fields = serde_json::json!([
            self.id,
            self.workspace_id,
            self.at,
            self.actor_user_id,
            self.actor_label,
            self.action,
            self.target_type,
            self.target_id,
            self.target_label,
            self.ip,
            self.user_agent,
            self.changes,
            prev_hash,
        ]);
        if let (Some(email), Some(list)) = (self.actor_email, fields.as_array_mut()) {
            list.push(serde_json::json!(email));
        }
        hex::encode(Sha256::digest(fields.to_string().as_bytes()))
    }
}

/// Serialises appends to one chain until the transaction ends, and returns the
/// chain's last hash. SQLite needs no lock here: `Db::begin` already holds its
/// single write lock.
pub async fn lock_and_read_head(
    tx: &mut Tx,
    workspace_id: Option<&str>,
) -> Result<Option<String>, sqlx::Error> {
    if crate::db::Backend::of(tx) == crate::db::Backend::Postgres {
        // Selecting a constant: the Any driver cannot decode the lock function's `void`.
        sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtext($1))) AS locked")
            .bind(format!("audit-chain:{}", workspace_id.unwrap_or("")))
            .execute(&mut **tx)
            .await?;
    }
    let row = match workspace_id {
        Some(id) => {
            sqlx::query(
                "SELECT hash FROM audit_entries WHERE workspace_id = $1 ORDER BY seq DESC LIMIT 1",
            )
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
        }
        None => sqlx::query(
            "SELECT hash FROM audit_entries WHERE workspace_id IS NULL ORDER BY seq DESC LIMIT 1",
        )
        .fetch_optional(&mut **tx)
        .await?,
    };
    match row {
        Some(row) => row.try_get("hash"),
        None => Ok(None),
    }
}

/// The newest entry of a workspace's chain, as a checkpoint publishes it.
///
/// The chain proves an entry was not edited, but whoever can bypass the
/// triggers can drop the newest entries, or rewrite the whole log and
/// recompute every hash. A head kept outside Keyward (a webhook receiver, a
/// ticket, a log archive) catches both: `keyward audit verify --checkpoint
/// SEQ:HASH` fails once the log no longer holds that entry with that hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChainHead {
    /// The entry's sequence number (unique across every chain).
    pub seq: i64,
    /// Its hash (SHA-256, hex): covers its content and, through its predecessor's, every older entry.
    pub hash: String,
    /// When it was written.
    pub at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct HeadRow {
    seq: i64,
    hash: String,
    at: i64,
}

const HEAD_SQL: &str = "SELECT seq, COALESCE(hash, '') AS hash, at FROM audit_entries
     WHERE workspace_id = $1 ORDER BY seq DESC LIMIT 1";

impl From<HeadRow> for ChainHead {
    fn from(row: HeadRow) -> Self {
        Self {
            seq: row.seq,
            hash: row.hash,
            at: crate::clock::from_micros(row.at),
        }
    }
}

/// The head of `workspace_id`'s chain; `None` before its first entry.
pub async fn head(db: &Db, workspace_id: &str) -> Result<Option<ChainHead>, sqlx::Error> {
    let row: Option<HeadRow> = sqlx::query_as(HEAD_SQL)
        .bind(workspace_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(ChainHead::from))
}

/// [`head`] as a transaction sees it.
pub async fn head_in(tx: &mut Tx, workspace_id: &str) -> Result<Option<ChainHead>, sqlx::Error> {
    let row: Option<HeadRow> = sqlx::query_as(HEAD_SQL)
        .bind(workspace_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(ChainHead::from))
}

/// A head recorded earlier, as `SEQ:HASH` on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
}

impl std::str::FromStr for Checkpoint {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (seq, hash) = text
            .split_once(':')
            .ok_or("expected SEQ:HASH, e.g. 1042:9f86d081…")?;
        let seq = seq
            .parse::<i64>()
            .ok()
            .filter(|seq| *seq > 0)
            .ok_or("SEQ must be a positive whole number")?;
        let hash = hash.to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("HASH must be 64 hexadecimal digits (SHA-256)".into());
        }
        Ok(Self { seq, hash })
    }
}

/// Why the log no longer matches a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointMismatch {
    #[error(
        "the log has no entry seq {seq}: entries were removed since the checkpoint (the log was truncated or rewritten)"
    )]
    Missing { seq: i64 },
    #[error(
        "entry seq {seq} has hash {found}, the checkpoint says {expected}: the log was rewritten since the checkpoint"
    )]
    Different {
        seq: i64,
        expected: String,
        found: String,
    },
    #[error("entry seq {seq} belongs to another workspace's chain than the one verified")]
    OtherChain { seq: i64 },
}

/// Whether the log still holds the checkpoint's entry with its hash, in
/// `workspace_id`'s chain when one is given (a verify of one chain vouches
/// for no other). Run after [`verify`]: an intact chain through that entry
/// then also vouches for every entry before it.
pub async fn check_checkpoint(
    db: &Db,
    checkpoint: &Checkpoint,
    workspace_id: Option<&str>,
) -> Result<Result<(), CheckpointMismatch>, sqlx::Error> {
    let found: Option<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT hash, workspace_id FROM audit_entries WHERE seq = $1")
            .bind(checkpoint.seq)
            .fetch_optional(db.pool())
            .await?;
    let seq = checkpoint.seq;
    Ok(match found {
        None | Some((None, _)) => Err(CheckpointMismatch::Missing { seq }),
        Some((_, chain)) if workspace_id.is_some() && chain.as_deref() != workspace_id => {
            Err(CheckpointMismatch::OtherChain { seq })
        }
        Some((Some(found), _)) if found != checkpoint.hash => Err(CheckpointMismatch::Different {
            seq,
            expected: checkpoint.hash.clone(),
            found,
        }),
        Some(_) => Ok(()),
    })
}

/// The first entry whose link does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    pub seq: i64,
    pub id: String,
    pub workspace_id: Option<String>,
    pub reason: &'static str,
}

/// What `keyward audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub entries_checked: u64,
    pub broken: Option<BrokenLink>,
}

/// Walks the chain of one workspace (or every chain), oldest first, and stops
/// at the first broken link.
pub async fn verify(db: &Db, workspace_id: Option<&str>) -> Result<Verification, sqlx::Error> {
    let columns =
        "seq, id, workspace_id, at, actor_user_id, actor_label, actor_email, action, target_type,
        target_id, target_label, ip, user_agent, changes, prev_hash, hash";
    let rows = match workspace_id {
        Some(id) => {
            sqlx::query(&format!(
                "SELECT {columns} FROM audit_entries WHERE workspace_id = $1 ORDER BY seq"
            ))
            .bind(id)
            .fetch_all(db.pool())
            .await?
        }
        None => {
            sqlx::query(&format!("SELECT {columns} FROM audit_entries ORDER BY seq"))
                .fetch_all(db.pool())
                .await?
        }
    };
    let mut heads: std::collections::HashMap<Option<String>, String> = Default::default();
    let mut checked = 0;
    for row in rows {
        let workspace: Option<String> = row.try_get("workspace_id")?;
        let link = check_row(&row, heads.get(&workspace).map(String::as_str))?;
        match link {
            Ok(hash) => {
                heads.insert(workspace, hash);
                checked += 1;
            }
            Err(reason) => {
                return Ok(Verification {
                    entries_checked: checked,
                    broken: Some(BrokenLink {
                        seq: row.try_get("seq")?,
                        id: row.try_get("id")?,
                        workspace_id: workspace,
                        reason,
                    }),
                });
            }
        }
    }
    Ok(Verification {
        entries_checked: checked,
        broken: None,
    })
}

/// The row's hash when it links correctly to `expected_prev`, else why not.
fn check_row(
    row: &sqlx::any::AnyRow,
    expected_prev: Option<&str>,
) -> Result<Result<String, &'static str>, sqlx::Error> {
    let text = |column: &str| row.try_get::<Option<String>, _>(column);
    let (id, actor_label, action) = (
        row.try_get::<String, _>("id")?,
        row.try_get::<String, _>("actor_label")?,
        row.try_get::<String, _>("action")?,
    );
    let (workspace_id, actor_user_id, target_type, target_id) = (
        text("workspace_id")?,
        text("actor_user_id")?,
        text("target_type")?,
        text("target_id")?,
    );
    let (target_label, ip, user_agent, changes) = (
        text("target_label")?,
        text("ip")?,
        text("user_agent")?,
        text("changes")?,
    );
    let actor_email = text("actor_email")?;
    let (prev_hash, hash) = (text("prev_hash")?, text("hash")?);
    let Some(hash) = hash else {
        return Ok(Err("the entry has no hash"));
    };
    if prev_hash.as_deref() != expected_prev {
        return Ok(Err(
            "the entry does not point to its predecessor (one was removed or reordered)",
        ));
    }
    let canonical = Canonical {
        id: &id,
        workspace_id: workspace_id.as_deref(),
        at: row.try_get("at")?,
        actor_user_id: actor_user_id.as_deref(),
        actor_label: &actor_label,
        actor_email: actor_email.as_deref(),
        action: &action,
        target_type: target_type.as_deref(),
        target_id: target_id.as_deref(),
        target_label: target_label.as_deref(),
        ip: ip.as_deref(),
        user_agent: user_agent.as_deref(),
        changes: changes.as_deref(),
    };
    if canonical.hash(prev_hash.as_deref()) != hash {
        return Ok(Err(
            "the entry's content does not match its hash (it was edited)",
        ));
    }
    Ok(Ok(hash))
}
