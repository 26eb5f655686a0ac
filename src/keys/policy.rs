//! A workspace's rules for its keys (Settings → Workspace, admins): the longest
//! a key may live, whether every key must expire, who may create live keys,
//! and whether a note is required. They bind every key minted or changed from
//! then on — create, rotate, edit, over the dashboard and `/api/v1` alike — and
//! never revoke a key: one made before a rule that it breaks is shown as
//! "outside policy" (`KeyView::outside_policy`).
//!
//! The types are shared with the browser (the settings form renders them);
//! reading and writing the `workspaces` columns is server-only.

#[cfg(feature = "ssr")]
use super::new_key::Expiry;
use super::{Environment, KeyView};
use crate::workspaces::Role;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The maximum lifetimes an admin may choose, in days.
pub const LIFETIME_CHOICES: [u32; 4] = [30, 90, 180, 365];

/// Who may create (and rotate) live keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LiveKeyCreators {
    /// Admins and developers (the default).
    #[default]
    Developers,
    /// Admins only; developers still create test keys.
    Admins,
}

impl LiveKeyCreators {
    pub const ALL: [LiveKeyCreators; 2] = [Self::Developers, Self::Admins];

    /// The spelling the store and the form use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Developers => "developers",
            Self::Admins => "admins",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|who| who.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Developers => "Admins and developers",
            Self::Admins => "Admins only",
        }
    }

    /// The least role that may create a live key.
    fn least_role(self) -> Role {
        match self {
            Self::Developers => Role::Developer,
            Self::Admins => Role::Admin,
        }
    }
}

/// A workspace's key policy. The default binds nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPolicy {
    /// The longest a key may live, in days from its creation (one of [`LIFETIME_CHOICES`]).
    pub max_lifetime_days: Option<u32>,
    /// Every key must have an expiry (a maximum lifetime implies it).
    pub expiry_required: bool,
    pub live_key_creators: LiveKeyCreators,
    /// Every key needs a note saying what it is for.
    pub note_required: bool,
}

/// A rule a key breaks, named by the form field it concerns.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyBreach {
    #[error("This workspace requires every key to expire. Choose an expiry.")]
    ExpiryRequired,
    #[error(
        "This workspace's keys live at most {max_days} days. Choose an expiry on or before {latest}."
    )]
    LivesTooLong {
        max_days: u32,
        /// The last day (UTC) a key made at that moment may work through.
        latest: String,
    },
    #[error(
        "This key is older than the workspace's maximum lifetime of {max_days} days: its expiry cannot be set within it. Rotate it into a new key instead."
    )]
    OutlivedItsLifetime { max_days: u32 },
    #[error("This workspace requires a note on every key: say what it is for.")]
    NoteRequired,
    #[error(
        "Only admins may create live keys in this workspace. Create a test key, or ask an admin."
    )]
    LiveKeysAdminsOnly,
}

impl PolicyBreach {
    /// The form field the breach is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::ExpiryRequired | Self::LivesTooLong { .. } | Self::OutlivedItsLifetime { .. } => {
                "expiry"
            }
            Self::NoteRequired => "note",
            Self::LiveKeysAdminsOnly => "environment",
        }
    }
}

impl From<PolicyBreach> for crate::error::AppError {
    fn from(breach: PolicyBreach) -> Self {
        Self::invalid(breach.field(), breach.to_string())
    }
}

impl KeyPolicy {
    /// Whether a key must have an expiry at all.
    pub fn requires_expiry(&self) -> bool {
        self.expiry_required || self.max_lifetime_days.is_some()
    }

    /// The latest a key created at `created_at` may expire, when there is a maximum.
    pub fn latest_expiry(&self, created_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.max_lifetime_days
            .map(|days| created_at + Duration::days(i64::from(days)))
    }

    #[cfg(feature = "ssr")]
    /// `expiry` for a key made at `now`, shortened to the maximum lifetime
    /// when it would outlive it (or never end). What a rotation gives the
    /// replacement of a key made before the maximum.
    pub fn cap_expiry(&self, expiry: Expiry, now: DateTime<Utc>) -> Expiry {
        let Some(max_days) = self.max_lifetime_days else {
            return expiry;
        };
        match expiry.expires_at(now) {
            Some(at) if at <= now + Duration::days(i64::from(max_days)) => expiry,
            _ => Expiry::Days(max_days),
        }
    }

    /// Refuses an expiry (`None`: never) for a key created at `created_at`.
    pub fn check_expiry(
        &self,
        created_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), PolicyBreach> {
        let Some(expires_at) = expires_at else {
            return if self.requires_expiry() {
                Err(PolicyBreach::ExpiryRequired)
            } else {
                Ok(())
            };
        };
        match (self.max_lifetime_days, self.latest_expiry(created_at)) {
            (Some(max_days), Some(latest)) if expires_at > latest => {
                Err(PolicyBreach::LivesTooLong {
                    max_days,
                    // A date expiry lasts through its day, so the day before `latest` is safe.
                    latest: (latest - Duration::days(1)).format("%Y-%m-%d").to_string(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Refuses a missing note when notes are required.
    pub fn check_note(&self, note: Option<&str>) -> Result<(), PolicyBreach> {
        match note {
            None if self.note_required => Err(PolicyBreach::NoteRequired),
            _ => Ok(()),
        }
    }

    /// Refuses a member of `role` a new key in `environment`.
    pub fn check_creator(&self, role: Role, environment: Environment) -> Result<(), PolicyBreach> {
        if environment == Environment::Live && !role.includes(self.live_key_creators.least_role()) {
            return Err(PolicyBreach::LiveKeysAdminsOnly);
        }
        Ok(())
    }

    /// The rules an existing key breaks, in words for its badge's title.
    pub fn breaches_of(&self, key: &KeyView) -> Vec<String> {
        let mut breaches = Vec::new();
        if !key.status.verifies() {
            return breaches;
        }
        match key.expires_at {
            None if self.requires_expiry() => breaches.push("It never expires.".to_owned()),
            Some(expires_at) => {
                if let (Some(max_days), Some(latest)) =
                    (self.max_lifetime_days, self.latest_expiry(key.created_at))
                    && expires_at > latest
                {
                    breaches.push(format!("It lives longer than {max_days} days."));
                }
            }
            None => {}
        }
        if key.note.is_none() && self.note_required {
            breaches.push("It has no note.".to_owned());
        }
        breaches
    }
}

/// The policy and whether the member asking may change it (admins only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPolicyView {
    pub policy: KeyPolicy,
    pub can_change: bool,
}

#[cfg(feature = "ssr")]
pub use store::{load, set};

#[cfg(feature = "ssr")]
mod store {
    use super::{KeyPolicy, LIFETIME_CHOICES, LiveKeyCreators};
    use crate::audit::AuditAction;
    use crate::audit::store::{ClientInfo, NewEntry, Target, TargetKind, append};
    use crate::auth::access::Member;
    use crate::db::Db;
    use crate::error::AppError;
    use crate::workspaces::Role;
    use crate::workspaces::store::lock;
    use chrono::{DateTime, Utc};
    use serde_json::json;

    /// The four policy columns of `workspaces`, decoded by type.
    #[derive(sqlx::FromRow)]
    struct PolicyRow {
        key_max_lifetime_days: Option<i64>,
        key_expiry_required: i64,
        live_key_creators: String,
        key_note_required: i64,
    }

    impl PolicyRow {
        /// A value the migration's CHECKs exclude is an error, logged, never a default.
        fn into_policy(self) -> Result<KeyPolicy, sqlx::Error> {
            let undecodable = |column: &str, text: String| {
                tracing::error!(table = "workspaces", column, %text, "a row did not decode");
                sqlx::Error::ColumnDecode {
                    index: column.to_owned(),
                    source: format!("workspaces.{column}: {text}").into(),
                }
            };
            let max_lifetime_days = self
                .key_max_lifetime_days
                .map(|days| {
                    u32::try_from(days)
                        .ok()
                        .filter(|days| LIFETIME_CHOICES.contains(days))
                        .ok_or_else(|| undecodable("key_max_lifetime_days", days.to_string()))
                })
                .transpose()?;
            let flag = |column: &str, value: i64| match value {
                0 => Ok(false),
                1 => Ok(true),
                other => Err(undecodable(column, other.to_string())),
            };
            Ok(KeyPolicy {
                max_lifetime_days,
                expiry_required: flag("key_expiry_required", self.key_expiry_required)?,
                live_key_creators: LiveKeyCreators::parse(&self.live_key_creators).ok_or_else(
                    || undecodable("live_key_creators", self.live_key_creators.clone()),
                )?,
                note_required: flag("key_note_required", self.key_note_required)?,
            })
        }
    }

    const POLICY_QUERY: &str =
        "SELECT key_max_lifetime_days, key_expiry_required, live_key_creators,
            key_note_required FROM workspaces WHERE id = $1";

    /// The workspace's key policy, read on `conn` (a transaction's, to check a
    /// change against the policy it commits under).
    pub async fn load(
        conn: &mut sqlx::AnyConnection,
        workspace_id: &str,
    ) -> Result<KeyPolicy, sqlx::Error> {
        let row: PolicyRow = sqlx::query_as(POLICY_QUERY)
            .bind(workspace_id)
            .fetch_one(&mut *conn)
            .await?;
        row.into_policy()
    }

    /// Sets the workspace's key policy (admins only), recording one
    /// `settings.changed` with the policy before and after. Saving the same
    /// policy records nothing. Keys already made are never revoked by it.
    pub async fn set(
        db: &Db,
        member: &Member,
        policy: KeyPolicy,
        now: DateTime<Utc>,
        client: &ClientInfo,
    ) -> Result<(), AppError> {
        member.require(Role::Admin)?;
        let mut tx = db.begin().await?;
        lock(&mut tx, &member.workspace_id).await?;
        // Still an admin once the lock is held: a demotion may have committed meanwhile.
        crate::keys::store::ensure_still_member(&mut tx, member, Role::Admin).await?;
        let before = load(&mut tx, &member.workspace_id).await?;
        if before == policy {
            return Ok(());
        }
        sqlx::query(
            "UPDATE workspaces SET key_max_lifetime_days = $1, key_expiry_required = $2,
                 live_key_creators = $3, key_note_required = $4
             WHERE id = $5",
        )
        .bind(policy.max_lifetime_days.map(i64::from))
        .bind(i64::from(policy.expiry_required))
        .bind(policy.live_key_creators.as_str())
        .bind(i64::from(policy.note_required))
        .bind(&member.workspace_id)
        .execute(&mut *tx)
        .await?;
        let as_json = |policy: KeyPolicy| {
            json!({ "key_policy": {
                "max_lifetime_days": policy.max_lifetime_days,
                "expiry_required": policy.expiry_required,
                "live_key_creators": policy.live_key_creators,
                "note_required": policy.note_required,
            } })
        };
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_maximum_lifetime_counts_from_creation_and_implies_an_expiry() {
        let created = at("2026-01-01T12:00:00Z");
        let policy = KeyPolicy {
            max_lifetime_days: Some(30),
            ..KeyPolicy::default()
        };
        assert_eq!(
            policy.check_expiry(created, None),
            Err(PolicyBreach::ExpiryRequired)
        );
        assert_eq!(
            policy.check_expiry(created, Some(at("2026-01-31T12:00:00Z"))),
            Ok(())
        );
        let breach = policy
            .check_expiry(created, Some(at("2026-01-31T12:00:01Z")))
            .unwrap_err();
        assert_eq!(breach.field(), "expiry");
        assert!(breach.to_string().contains("2026-01-30"), "{breach}");
        assert_eq!(KeyPolicy::default().check_expiry(created, None), Ok(()));
        let must_expire = KeyPolicy {
            expiry_required: true,
            ..KeyPolicy::default()
        };
        assert!(must_expire.check_expiry(created, None).is_err());
        assert_eq!(
            must_expire.check_expiry(created, Some(at("2036-01-01T00:00:00Z"))),
            Ok(())
        );
    }

    fn key(created: &str, expires: Option<&str>, note: Option<&str>) -> KeyView {
        KeyView {
            id: "k1".into(),
            name: "Billing".into(),
            note: note.map(str::to_owned),
            environment: Environment::Live,
            masked: "kw_live_abcd…wxyz".into(),
            scopes: vec!["read-only".into()],
            status: super::super::KeyStatus::Active,
            created_at: at(created),
            created_by_id: "u1".into(),
            created_by: "Ana".into(),
            last_used_at: None,
            last_used_ip: None,
            expires_at: expires.map(at),
            grace_ends_at: None,
            rate_limit_per_minute: None,
            rate_limit_burst: None,
            ip_allowlist: Vec::new(),
            credits: None,
            revoked_at: None,
            revoke_reason: None,
            leaked_at: None,
            leaked_url: None,
            minted_by_key: None,
            outside_policy: Vec::new(),
            can_manage: true,
            recent_use: None,
        }
    }

    #[test]
    fn keys_made_before_a_rule_are_told_what_they_break() {
        let strict = KeyPolicy {
            max_lifetime_days: Some(90),
            note_required: true,
            ..KeyPolicy::default()
        };
        let created = "2026-01-01T00:00:00Z";
        assert_eq!(
            strict.breaches_of(&key(created, None, None)),
            ["It never expires.", "It has no note."]
        );
        assert_eq!(
            strict.breaches_of(&key(created, Some("2026-06-01T00:00:00Z"), Some("export"))),
            ["It lives longer than 90 days."]
        );
        assert!(
            strict
                .breaches_of(&key(created, Some("2026-03-01T00:00:00Z"), Some("export")))
                .is_empty()
        );
        // A key that no longer works breaks nothing worth a badge.
        let mut revoked = key(created, None, None);
        revoked.status = super::super::KeyStatus::Revoked;
        assert!(strict.breaches_of(&revoked).is_empty());
        assert!(
            KeyPolicy::default()
                .breaches_of(&key(created, None, None))
                .is_empty()
        );
    }

    #[test]
    fn a_key_expires_soon_within_seven_days_while_it_works() {
        let now = at("2026-01-10T00:00:00Z");
        let soon = key("2026-01-01T00:00:00Z", Some("2026-01-13T06:00:00Z"), None);
        assert_eq!(soon.expires_soon(now), Some(Duration::hours(78)));
        let later = key("2026-01-01T00:00:00Z", Some("2026-01-18T00:00:00Z"), None);
        assert_eq!(later.expires_soon(now), None);
        assert_eq!(
            key("2026-01-01T00:00:00Z", None, None).expires_soon(now),
            None
        );
        let mut rotated = key("2026-01-01T00:00:00Z", None, None);
        rotated.grace_ends_at = Some(at("2026-01-11T00:00:00Z"));
        rotated.status = super::super::KeyStatus::Expiring;
        assert_eq!(rotated.expires_soon(now), Some(Duration::days(1)));
    }

    #[test]
    fn live_keys_and_notes_follow_the_policy() {
        let strict = KeyPolicy {
            live_key_creators: LiveKeyCreators::Admins,
            note_required: true,
            ..KeyPolicy::default()
        };
        assert_eq!(
            strict.check_creator(Role::Developer, Environment::Live),
            Err(PolicyBreach::LiveKeysAdminsOnly)
        );
        assert_eq!(
            strict.check_creator(Role::Developer, Environment::Test),
            Ok(())
        );
        assert_eq!(strict.check_creator(Role::Admin, Environment::Live), Ok(()));
        assert_eq!(
            KeyPolicy::default().check_creator(Role::Developer, Environment::Live),
            Ok(())
        );
        assert_eq!(strict.check_note(None).unwrap_err().field(), "note");
        assert_eq!(strict.check_note(Some("nightly export")), Ok(()));
        for who in LiveKeyCreators::ALL {
            assert_eq!(LiveKeyCreators::parse(who.as_str()), Some(who));
        }
    }
}
