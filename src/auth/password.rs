//! User passwords: argon2id with OWASP's recommended parameters
//! (19 MiB memory, 2 iterations, 1 lane), 12 to 1024 characters. Longer input
//! is refused before argon2 runs, at sign-in too.

use crate::error::AppError;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::LazyLock;

pub const MIN_CHARS: usize = 12;
pub const MAX_CHARS: usize = 1024;

/// A password that met the length rules. Never printed.
pub struct Password(String);

impl Password {
    pub fn parse(raw: String) -> Result<Self, AppError> {
        let chars = raw.chars().count();
        if chars < MIN_CHARS {
            return Err(AppError::invalid(
                "password",
                format!("Use at least {MIN_CHARS} characters."),
            ));
        }
        if chars > MAX_CHARS {
            return Err(AppError::invalid(
                "password",
                format!("Use at most {MAX_CHARS} characters."),
            ));
        }
        Ok(Self(raw))
    }
}

/// A password typed to sign in (or to join with an existing account). Only
/// the upper bound is checked, before any hashing: argon2 never sees more
/// than [`MAX_CHARS`], and no account can have a longer password. Never printed.
pub struct Candidate(String);

impl Candidate {
    pub fn parse(raw: String) -> Result<Self, AppError> {
        if raw.chars().count() > MAX_CHARS {
            return Err(AppError::invalid(
                "password",
                format!("Passwords are at most {MAX_CHARS} characters."),
            ));
        }
        Ok(Self(raw))
    }
}

fn hasher() -> Argon2<'static> {
    #[allow(
        clippy::expect_used,
        reason = "constant parameters within argon2's bounds; every hashing test runs this"
    )]
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP argon2id parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes on a blocking thread: argon2 is deliberately slow and must not stall the runtime.
pub async fn hash(password: Password) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.0.as_bytes(), &salt)
            .map(|hash| hash.to_string())
    })
    .await
    .map_err(|_| AppError::Internal)?
    .map_err(|error| {
        tracing::error!(%error, "password hashing failed");
        AppError::Internal
    })
}

/// A real hash of a random password, checked when the email is unknown so that
/// sign-in takes the same time whether or not the account exists.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    #[allow(
        clippy::expect_used,
        reason = "a fixed password with a fresh salt cannot fail to hash; warmed up at start"
    )]
    let hash = hasher()
        .hash_password(b"keyward-dummy-password", &salt)
        .expect("hashing works");
    hash.to_string()
});

/// Checks `candidate` against `stored` (or against a dummy hash when there is no account).
pub async fn verify(candidate: Candidate, stored: Option<String>) -> bool {
    let Candidate(candidate) = candidate;
    tokio::task::spawn_blocking(move || {
        let exists = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        let matches = hasher()
            .verify_password(candidate.as_bytes(), &parsed)
            .is_ok();
        exists && matches
    })
    .await
    .unwrap_or(false)
}

/// Computes the dummy hash ahead of the first sign-in, so that sign-in doesn't pay for it.
pub fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules() {
        assert!(Password::parse("short".into()).is_err());
        assert!(Password::parse("x".repeat(12)).is_ok());
        assert!(Password::parse("x".repeat(1024)).is_ok());
        assert!(Password::parse("x".repeat(1025)).is_err());
        assert!(Candidate::parse("short".into()).is_ok());
        assert!(Candidate::parse("x".repeat(1024)).is_ok());
        assert!(Candidate::parse("x".repeat(1025)).is_err());
    }

    fn candidate(text: &str) -> Candidate {
        Candidate::parse(text.into()).unwrap()
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hash = hash(Password::parse("correct horse battery".into()).unwrap())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify(candidate("correct horse battery"), Some(hash.clone())).await);
        assert!(!verify(candidate("wrong horse battery"), Some(hash)).await);
        assert!(!verify(candidate("correct horse battery"), None).await);
    }
}
