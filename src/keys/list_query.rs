//! The list's dynamic WHERE clause: filters by environment, status (derived
//! from the times against "now") and search, plus the keyset cursor, with
//! numbered parameters that both SQLite and PostgreSQL accept.

use super::{Environment, KeyStatus};
use crate::clock::to_micros;
use crate::error::AppError;
use chrono::{DateTime, Utc};

/// `"{created_at micros}:{id}"` → its parts. Anything else (a time that
/// overflows, say) is refused rather than quietly showing the first page.
pub fn parse_cursor(cursor: &str) -> Result<(i64, String), AppError> {
    let parts = cursor
        .split_once(':')
        .and_then(|(at, id)| Some((at.parse().ok()?, id.chars().take(64).collect())));
    parts.ok_or_else(|| {
        AppError::invalid(
            "before",
            "The page cursor is not one this list gave out. Start again from the first page.",
        )
    })
}

pub use crate::sql::Bind;
use crate::sql::WhereClause;

/// The list's WHERE clauses and numbered parameters.
pub struct ListQuery(WhereClause);

impl std::ops::Deref for ListQuery {
    type Target = WhereClause;
    fn deref(&self) -> &WhereClause {
        &self.0
    }
}

impl std::ops::DerefMut for ListQuery {
    fn deref_mut(&mut self) -> &mut WhereClause {
        &mut self.0
    }
}

impl ListQuery {
    pub fn new(workspace_id: &str) -> Self {
        let mut clause = WhereClause::default();
        clause.push("k.workspace_id = ?", Bind::Text(workspace_id.into()));
        Self(clause)
    }

    pub fn push_status(&mut self, status: KeyStatus, now: DateTime<Utc>) {
        let now = self.bind(Bind::Int(to_micros(now)));
        let clause = match status {
            KeyStatus::Revoked => "k.revoked_at IS NOT NULL".to_owned(),
            KeyStatus::Expired => format!(
                "k.revoked_at IS NULL AND (k.expires_at <= {now} OR k.grace_ends_at <= {now})"
            ),
            KeyStatus::Expiring => format!(
                "k.revoked_at IS NULL AND k.grace_ends_at > {now}
                 AND (k.expires_at IS NULL OR k.expires_at > {now})"
            ),
            KeyStatus::Active => format!(
                "k.revoked_at IS NULL AND k.grace_ends_at IS NULL
                 AND (k.expires_at IS NULL OR k.expires_at > {now})"
            ),
        };
        self.clauses.push(format!("({clause})"));
    }

    /// Keys that still work and stop (expire, or end a rotation's grace)
    /// within [`super::EXPIRING_SOON_DAYS`] of `now`.
    pub fn push_expiring_soon(&mut self, now: DateTime<Utc>) {
        let soon = self.bind(Bind::Int(to_micros(
            now + chrono::Duration::days(super::EXPIRING_SOON_DAYS),
        )));
        let now = self.bind(Bind::Int(to_micros(now)));
        self.clauses.push(format!(
            "(k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > {now})
              AND (k.grace_ends_at IS NULL OR k.grace_ends_at > {now})
              AND (k.expires_at <= {soon} OR k.grace_ends_at <= {soon}))"
        ));
    }

    /// A pasted `kw_live_3fJ9…a1b2` (or its beginning) matches the shown parts;
    /// anything else matches the name, case-insensitively.
    pub fn push_search(&mut self, search: &str) {
        let search: String = search.chars().take(100).collect();
        if let Some((prefix, rest)) = split_key_prefix(&search) {
            let (start, last4) = match rest.split_once('…') {
                Some((start, last4)) => (start, Some(last4)),
                None => (rest, None),
            };
            let start: String = start.chars().take(4).collect();
            self.push("k.prefix = ?", Bind::Text(prefix.to_owned()));
            self.push(
                "k.body_start LIKE ? ESCAPE '\\'",
                Bind::Text(format!("{}%", escape_like(&start))),
            );
            if let Some(last4) = last4.filter(|last4| !last4.is_empty()) {
                self.push("k.last4 = ?", Bind::Text(last4.to_owned()));
            }
        } else {
            let pattern = format!("%{}%", escape_like(&search.to_lowercase()));
            self.push("lower(k.name) LIKE ? ESCAPE '\\'", Bind::Text(pattern));
        }
    }
}

/// `("kw_live", "3fJ9…")` when the text starts like one of our keys.
fn split_key_prefix(text: &str) -> Option<(&str, &str)> {
    let mut parts = text.splitn(3, '_');
    let (prefix, env, rest) = (parts.next()?, parts.next()?, parts.next()?);
    if !super::format::KeyPrefix::is_valid(prefix) || Environment::parse(env).is_none() {
        return None;
    }
    Some((&text[..prefix.len() + 1 + env.len()], rest))
}

/// Escapes LIKE wildcards so a search for "50%" means "50%".
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_prefixes_are_recognised_and_names_are_not() {
        assert_eq!(
            split_key_prefix("kw_live_3fJ9…a1b2"),
            Some(("kw_live", "3fJ9…a1b2"))
        );
        assert_eq!(split_key_prefix("rk_test_"), Some(("rk_test", "")));
        assert_eq!(split_key_prefix("Billing backend"), None);
        assert_eq!(split_key_prefix("kw_prod_3fJ9"), None);
        assert_eq!(split_key_prefix("my_service_key"), None);
    }

    #[test]
    fn like_wildcards_match_themselves() {
        assert_eq!(escape_like(r"50%_\"), r"50\%\_\\");
    }

    #[test]
    fn cursors_are_parsed_or_refused() {
        assert_eq!(
            parse_cursor("1700000000:abc"),
            Ok((1_700_000_000, "abc".into()))
        );
        for bad in ["garbage", "x:abc", "99999999999999999999:abc"] {
            assert!(parse_cursor(bad).is_err(), "{bad}");
        }
    }
}
