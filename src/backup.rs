//! `keyward backup <file>`: a consistent copy of the SQLite store, taken while
//! the server runs. PostgreSQL has its own tool for that (`pg_dump`).

use crate::config::mask_database_url;
use sqlx::ConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Why no copy was written.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "backups of PostgreSQL are pg_dump's job, not keyward's; run\n\n  pg_dump --format=custom --file={file} \"$DATABASE_URL\"\n\n(DATABASE_URL is {masked}; restore with pg_restore, see docs/deploy.md)"
    )]
    Postgres { file: String, masked: String },
    #[error("{0} already exists; choose a new file (a backup never overwrites one)")]
    TargetExists(String),
    #[error("could not read the database {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("could not write the copy: {0}")]
    Copy(#[source] sqlx::Error),
    #[error("could not move the copy into place at {path}: {source}")]
    Place {
        path: String,
        source: std::io::Error,
    },
}

/// Writes a copy of the SQLite database at `database_url` to `target` with
/// `VACUUM INTO`: one read transaction, so the copy is a snapshot of a single
/// moment, and in WAL mode it does not hold up the server's writers. The copy
/// is written beside `target` under a temporary name and linked into place
/// only when complete, so an interrupted backup never leaves a half file there.
/// The database is opened read-only and not migrated: a backup taken before an
/// upgrade is of the schema as it was.
pub async fn backup_sqlite(database_url: &str, target: &Path) -> Result<u64, BackupError> {
    let shown = target.display().to_string();
    if !database_url.starts_with("sqlite:") {
        return Err(BackupError::Postgres {
            file: shell_word(&shown),
            masked: mask_database_url(database_url),
        });
    }
    if target.exists() {
        return Err(BackupError::TargetExists(shown));
    }
    let open_error = |source| BackupError::Open {
        url: database_url.to_owned(),
        source,
    };
    let mut connection = SqliteConnectOptions::from_str(database_url)
        .map_err(open_error)?
        .read_only(true)
        .create_if_missing(false)
        // The server may be in the middle of a write: wait for it rather than fail.
        .busy_timeout(Duration::from_secs(30))
        .connect()
        .await
        .map_err(open_error)?;
    let partial = partial_name(target);
    // The copy holds password hashes and live session ids: readable by its
    // owner only, whatever the shell's umask. SQLite writes into an empty file.
    create_private(&partial).map_err(|source| BackupError::Place {
        path: partial.display().to_string(),
        source,
    })?;
    let copied = sqlx::query("VACUUM INTO $1")
        .bind(partial.display().to_string())
        .execute(&mut connection)
        .await;
    drop(connection);
    if let Err(error) = copied {
        let _ = std::fs::remove_file(&partial);
        return Err(BackupError::Copy(error));
    }
    // A hard link fails if `target` appeared meanwhile, where a rename would replace it.
    let placed = std::fs::hard_link(&partial, target);
    let _ = std::fs::remove_file(&partial);
    placed.map_err(|source| BackupError::Place {
        path: shown,
        source,
    })?;
    Ok(std::fs::metadata(target).map(|m| m.len()).unwrap_or(0))
}

fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}

fn partial_name(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backup".into());
    target.with_file_name(format!(".{name}.partial-{}", uuid::Uuid::new_v4().simple()))
}

/// The file name as one shell word, so that the printed command can be pasted.
fn shell_word(text: &str) -> String {
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn postgres_is_told_to_use_pg_dump_without_its_password() {
        let error = backup_sqlite(
            "postgres://keyward:hunter2@db/keyward",
            Path::new("my copy.dump"),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("pg_dump --format=custom --file='my copy.dump' \"$DATABASE_URL\""),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
    }
}
