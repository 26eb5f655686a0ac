//! Tamper evidence: each workspace's entries form a SHA-256 hash chain (account
//! events, which belong to no workspace, form one chain of their own). An entry
//! stores its predecessor's hash and the hash of its own canonical content plus
//! that predecessor hash, so editing, deleting or reordering any entry behind
//! the triggers' back breaks every link after it.

use crate::db::{Db, Tx};
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
