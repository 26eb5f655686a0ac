//! First run: while no user exists, the server prints a one-time setup link.
//! Only the token's digest is kept (in memory); the link works once.

use crate::db::{Backend, Db, Tx};
use crate::token::{OneTimeToken, TokenDigest};
use std::sync::{Arc, Mutex};

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
        *self.digest.lock().expect("setup token lock") = Some(token.digest());
        Ok(Some(token))
    }

    /// True while `presented` is the outstanding setup token.
    pub fn accepts(&self, presented: &str) -> bool {
        let guard = self.digest.lock().expect("setup token lock");
        guard
            .as_ref()
            .is_some_and(|digest| digest.matches(&TokenDigest::of(presented)))
    }

    /// True when a setup link was issued and not yet used.
    pub fn is_pending(&self) -> bool {
        self.digest.lock().expect("setup token lock").is_some()
    }

    /// Spends the token: the link stops working.
    pub fn consume(&self) {
        *self.digest.lock().expect("setup token lock") = None;
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
