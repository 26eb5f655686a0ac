//! First run: while no user exists, the server prints a one-time setup link.
//! Only the token's digest is kept (in memory); the link works once.

use super::email::Email;
use super::password::{self, Password};
use super::users::{self, User};
use crate::audit::AuditAction;
use crate::audit::store::{self as audit, Actor, ClientInfo, NewEntry, Target, TargetKind};
use crate::db::{Backend, Db, Tx};
use crate::error::AppError;
use crate::text::parse_display_name;
use crate::token::{OneTimeToken, TokenDigest};
use crate::workspaces::{Role, store as workspaces};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde_json::json;
use std::sync::Arc;

#[derive(Clone, Default)]
pub struct SetupToken {
    digest: Arc<Mutex<Option<TokenDigest>>>,
}

impl SetupToken {
    /// Issues a token when the store has no users yet; `None` once set up.
    pub async fn issue_if_needed(&self, db: &Db) -> Result<Option<OneTimeToken>, sqlx::Error> {
        if crate::auth::users::count(db).await? > 0 {
            return Ok(None);
        }
        let token = OneTimeToken::generate();
        *self.digest.lock() = Some(token.digest());
        Ok(Some(token))
    }

    /// True while `presented` is the outstanding setup token.
    pub fn accepts(&self, presented: &str) -> bool {
        let guard = self.digest.lock();
        guard
            .as_ref()
            .is_some_and(|digest| digest.matches(&TokenDigest::of(presented)))
    }

    /// True when a setup link was issued and not yet used.
    pub fn is_pending(&self) -> bool {
        self.digest.lock().is_some()
    }

    /// Spends the token: the link stops working.
    pub fn consume(&self) {
        *self.digest.lock() = None;
    }
}

/// The PostgreSQL advisory-lock key for first-run setup ("KWSETUP1" in ASCII).
const FIRST_RUN_LOCK: i64 = 0x4B57_5345_5455_5031;

/// Makes concurrent completions of the setup link queue inside their
/// transactions, so that the second sees the first one's admin and stops:
/// exactly one first admin. SQLite needs nothing, since `Db::begin` already
/// holds its single write lock (`BEGIN IMMEDIATE`); on PostgreSQL a
/// transaction-scoped advisory lock does the same, released at commit.
pub async fn lock_first_run(tx: &mut Tx, backend: Backend) -> Result<(), sqlx::Error> {
    if backend == Backend::Postgres {
        // The cast: sqlx's Any driver cannot read a `void` column.
        sqlx::query("SELECT CAST(pg_advisory_xact_lock($1) AS TEXT)")
            .bind(FIRST_RUN_LOCK)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The setup form, checked, with the password already hashed.
pub struct FirstAdmin {
    pub name: String,
    pub email: Email,
    pub workspace: String,
    pub password_hash: String,
}

impl FirstAdmin {
    /// Checks every field, then hashes the password (argon2, off the runtime's threads).
    pub async fn parse(
        name: &str,
        email: &str,
        workspace: &str,
        password: String,
    ) -> Result<Self, AppError> {
        let name = parse_display_name("name", "Your name", name)?;
        let email = Email::parse(email)?;
        let workspace = parse_display_name("workspace", "Workspace name", workspace)?;
        let password_hash = password::hash(Password::parse(password)?).await?;
        Ok(Self {
            name,
            email,
            workspace,
            password_hash,
        })
    }
}

/// Creates the first user as admin of the first workspace, with its
/// `user.setup` entry, in one transaction. Refused with a conflict once any
/// user exists, so that of two completions racing, exactly one wins.
pub async fn complete(
    db: &Db,
    first: FirstAdmin,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(User, String), AppError> {
    let mut tx = db.begin().await?;
    lock_first_run(&mut tx, db.backend()).await?;
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *tx)
        .await?;
    if existing > 0 {
        return Err(AppError::conflict(
            "Keyward is already set up. Sign in instead.",
        ));
    }
    let user = users::create(
        &mut tx,
        &first.email,
        &first.name,
        &first.password_hash,
        now,
    )
    .await?;
    let workspace_id =
        workspaces::create_administered_by(&mut tx, &user, &first.workspace, now).await?;
    let entry = NewEntry {
        workspace_id: Some(&workspace_id),
        actor: Actor::user(&user),
        action: AuditAction::UserSetup,
        target: Some(Target::new(
            TargetKind::Workspace,
            &workspace_id,
            &first.workspace,
        )),
        client,
        changes: Some(json!({ "after": { "email": user.email, "role": Role::Admin } })),
    };
    audit::append(&mut tx, now, entry).await?;
    tx.commit().await?;
    Ok((user, workspace_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;

    async fn temporary_store() -> Db {
        let file = std::env::temp_dir().join(format!("keyward-setup-{}.db", uuid::Uuid::new_v4()));
        Db::open(&format!("sqlite://{}", file.display()))
            .await
            .unwrap()
    }

    fn first_admin(email: &str) -> FirstAdmin {
        FirstAdmin {
            name: "Ana Diaz".into(),
            email: Email::parse(email).unwrap(),
            workspace: "Acme".into(),
            // `complete` stores the hash it is given; no argon2 needed here.
            password_hash: "$argon2id$not-checked-here".into(),
        }
    }

    #[tokio::test]
    async fn setup_makes_one_admin_with_its_entry_and_only_once() {
        let db = temporary_store().await;
        let now = Clock::default().now();
        let client = ClientInfo::default();
        let (user, workspace_id) = complete(&db, first_admin("ana@example.com"), now, &client)
            .await
            .unwrap();
        let role: String = sqlx::query_scalar(
            "SELECT role FROM memberships WHERE user_id = $1 AND workspace_id = $2",
        )
        .bind(&user.id)
        .bind(&workspace_id)
        .fetch_one(db.pool())
        .await
        .unwrap();
        assert_eq!(role, "admin");
        let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_entries")
            .fetch_all(db.pool())
            .await
            .unwrap();
        assert_eq!(actions, ["user.setup"]);

        let again = complete(&db, first_admin("bo@example.com"), now, &client).await;
        assert!(matches!(again, Err(AppError::Conflict { .. })), "{again:?}");
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(users, 1, "the refused second setup wrote nothing");
    }
}
