//! A key's lifecycle in the store: create, rotate, revoke, auto-revoke, offboard.
//! Reading is in `list`, row decoding in `rows`, audit labels in `audit`.
//!
//! Every change runs in one transaction with its audit entry, after taking the
//! workspace's lock so that name checks and rotations cannot race. Role checks
//! happen here too (a developer manages only the keys they own), so no caller
//! can forget them.

use super::audit::{KeyLabel, LabelledKey, parts_label, record, settings_json, target_label};
use super::credits::{CreditRefill, RefillColumns};
use super::format::SecretKey;
use super::ip_allowlist::IpAllowlist;
use super::minted::MINTED_UNREVOKED_KEYS;
use super::new_key::{Expiry, KeyEdit, NewKey, RateShaping};
use super::policy::{self, KeyPolicy, PolicyBreach};
use super::rows::{LoadedKey, ensure_may_manage, load};
use super::validate::check_burst;
use super::{CreatedKey, GraceWindow, KeyStatus};
use crate::audit::AuditAction;
use crate::audit::store::{Actor, ClientInfo, NewEntry, Target, TargetKind, append};
use crate::auth::access::Member;
use crate::changes::{Change, notify_in_tx};
use crate::clock::to_micros;
use crate::db::{Db, Tx};
use crate::error::AppError;
use crate::ids::{KeyId, UserId, WorkspaceId};
use crate::webhooks::EventType;
use crate::webhooks::outbox::{self, EventActor};
use crate::workspaces::Role;
use crate::workspaces::store::lock;
use chrono::{DateTime, Utc};
use serde_json::json;

/// Creates a key and returns its secret, the only time it exists outside the caller's hands.
pub async fn create(
    db: &Db,
    member: &Member,
    new: NewKey,
    key_prefix: &str,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<CreatedKey, AppError> {
    member.require(Role::Developer)?;
    let mut tx = db.begin().await?;
    lock(&mut tx, &member.workspace_id).await?;
    // Under the lock: a removal or a cascade revoke that committed while this
    // request waited must win, or a key would outlive what it was checked against.
    ensure_still_member(&mut tx, member, Role::Developer).await?;
    if let Some(minting) = &new.minted_by_key {
        ensure_key_still_verifies(&mut tx, minting, now).await?;
    }
    // Read under the lock, so a policy saved meanwhile binds this key.
    let policy = policy::load(&mut tx, &member.workspace_id).await?;
    check_policy(&policy, member, &new, now)?;
    ensure_name_free(&mut tx, &member.workspace_id, &new.name, None, now).await?;
    let secret = SecretKey::generate(key_prefix, new.environment);
    let id = insert(
        &mut tx,
        WorkspaceId(&member.workspace_id),
        UserId(&member.user_id),
        &new,
        &secret,
        now,
    )
    .await?;
    let label = parts_label(&new.name, &secret.display_parts());
    record(
        &mut tx,
        member,
        AuditAction::KeyCreated,
        KeyLabel {
            id: &id,
            label: &label,
        },
        json!({ "before": null, "after": settings_json(&new, now) }),
        now,
        client,
    )
    .await?;
    let actor = match &new.minted_by_key {
        Some(minting) => EventActor::api_key(minting),
        None => EventActor::member(member),
    };
    outbox::key_event(
        &mut tx,
        &member.workspace_id,
        EventType::KeyCreated,
        &id,
        actor,
        json!({}),
        now,
    )
    .await?;
    tx.commit().await?;
    outbox::wake(db);
    Ok(CreatedKey {
        id,
        name: new.name,
        secret: secret.expose().to_owned(),
    })
}

/// Replaces a key with a new one with the same settings; the old one keeps
/// working for `grace` and then expires.
pub async fn rotate(
    db: &Db,
    member: &Member,
    key_id: &str,
    grace: GraceWindow,
    key_prefix: &str,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<CreatedKey, AppError> {
    member.require(Role::Developer)?;
    let mut tx = db.begin().await?;
    lock(&mut tx, &member.workspace_id).await?;
    ensure_still_member(&mut tx, member, Role::Developer).await?;
    let old = load(&mut tx, member, key_id, now).await?;
    ensure_may_manage(member, &old)?;
    match old.status {
        KeyStatus::Active => {}
        KeyStatus::Expiring => {
            return Err(AppError::conflict(
                "This key has already been rotated and is expiring. Rotate its replacement instead.",
            ));
        }
        KeyStatus::Expired | KeyStatus::Revoked => {
            return Err(AppError::conflict(format!(
                "This key is {} and cannot be rotated.",
                old.status.as_str()
            )));
        }
    }
    let expiry = match (old.expiry_days, old.expires_at) {
        // A minted key was bound by its minting key's expiry: rotating it must
        // not start a fresh period past that bound, so it keeps its end.
        (Some(_), Some(at)) if old.view.minted_by_key.is_some() => Expiry::At(at),
        (Some(days), _) => Expiry::Days(days),
        (None, Some(at)) => Expiry::At(at),
        (None, None) => Expiry::Never,
    };
    let new = NewKey {
        name: old.view.name.clone(),
        note: old.view.note.clone(),
        environment: old.view.environment,
        scopes: old.view.scopes.clone(),
        expiry,
        rate_limit_per_minute: old.view.rate_limit_per_minute,
        rate_limit_burst: old.view.rate_limit_burst,
        ip_allowlist: old.ip_allowlist.clone(),
        // The replacement starts from the balance left; during the grace
        // window each key spends its own (docs/restrictions.md).
        credits: old.credits,
        minted_by_key: old.view.minted_by_key.clone(),
    };
    // The replacement is a new key: today's policy binds it (edit the key
    // first to bring it within, e.g. a note). Its life is capped at the
    // policy's maximum: a key made before the maximum would otherwise be
    // stuck, refused a rotation and unable to be edited within it.
    let policy = policy::load(&mut tx, &member.workspace_id).await?;
    let new = NewKey {
        expiry: policy.cap_expiry(new.expiry, now),
        ..new
    };
    check_policy(&policy, member, &new, now)?;
    // The replacement belongs to the key's owner, whoever pressed Rotate: the
    // owner's removal must still revoke it (the audit entry names the rotator).
    let owner_id = &old.view.created_by_id;
    let secret = SecretKey::generate(key_prefix, new.environment);
    let new_id = insert(
        &mut tx,
        WorkspaceId(&member.workspace_id),
        UserId(owner_id),
        &new,
        &secret,
        now,
    )
    .await?;
    let grace_ends_at = now + grace.duration();
    let old_digest: String = sqlx::query_scalar(
        "UPDATE api_keys SET replaced_by = $1, grace_ends_at = $2 WHERE id = $3 RETURNING digest",
    )
    .bind(&new_id)
    .bind(to_micros(grace_ends_at))
    .bind(key_id)
    .fetch_one(&mut *tx)
    .await?;
    // The cached entry still says "active, no grace end": every instance must forget it.
    let change = Change::Keys(vec![old_digest]);
    notify_in_tx(&mut tx, &change).await?;
    let old_status_after = KeyStatus::at(now, None, Some(grace_ends_at), old.expires_at);
    record(
        &mut tx,
        member,
        AuditAction::KeyRotated,
        KeyLabel {
            id: key_id,
            label: &target_label(&old.view.name, &old.view.masked),
        },
        json!({
            "before": { "status": old.status },
            "after": {
                "status": old_status_after,
                "grace_ends_at": grace_ends_at,
                "replaced_by": new_id,
            },
        }),
        now,
        client,
    )
    .await?;
    let label = parts_label(&new.name, &secret.display_parts());
    let mut settings = settings_json(&new, now);
    settings["rotated_from"] = json!(key_id);
    settings["owner_id"] = json!(owner_id);
    record(
        &mut tx,
        member,
        AuditAction::KeyCreated,
        KeyLabel {
            id: &new_id,
            label: &label,
        },
        json!({ "before": null, "after": settings }),
        now,
        client,
    )
    .await?;
    outbox::key_event(
        &mut tx,
        &member.workspace_id,
        EventType::KeyRotated,
        key_id,
        EventActor::member(member),
        json!({ "replaced_by": new_id, "grace_ends_at": grace_ends_at }),
        now,
    )
    .await?;
    tx.commit().await?;
    outbox::wake(db);
    db.changes().publish(&change);
    Ok(CreatedKey {
        id: new_id,
        name: new.name,
        secret: secret.expose().to_owned(),
    })
}

/// Refuses a new key (created, or a rotation's replacement) that the
/// workspace's policy forbids `member` to make at `now`.
fn check_policy(
    policy: &KeyPolicy,
    member: &Member,
    new: &NewKey,
    now: DateTime<Utc>,
) -> Result<(), PolicyBreach> {
    policy.check_creator(member.role, new.environment)?;
    policy.check_expiry(now, new.expiry.expires_at(now))?;
    policy.check_note(new.note.as_deref())
}

/// Changes a key's name, note, rate limit or expiry (earlier only, and within
/// the workspace's policy) without rotating it: one transaction, one
/// `key.updated` entry with the changed fields before and after, and every
/// instance's cache told at once, as a revoke does. An edit that changes
/// nothing records nothing.
pub async fn update(
    db: &Db,
    member: &Member,
    key_id: &str,
    edit: KeyEdit,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(), AppError> {
    member.require(Role::Developer)?;
    let mut tx = db.begin().await?;
    lock(&mut tx, &member.workspace_id).await?;
    ensure_still_member(&mut tx, member, Role::Developer).await?;
    let key = load(&mut tx, member, key_id, now).await?;
    ensure_may_manage(member, &key)?;
    if !key.status.verifies() {
        return Err(AppError::conflict(format!(
            "This key is {} and cannot be changed.",
            key.status.as_str()
        )));
    }
    let policy = policy::load(&mut tx, &member.workspace_id).await?;
    let current = &key.view;
    let mut diff = Diff::default();
    let name = edit.name.clone().filter(|name| *name != current.name);
    if let Some(name) = &name {
        ensure_name_free(&mut tx, &member.workspace_id, name, Some(key_id), now).await?;
        diff.note("name", &current.name, name);
    }
    let note = edit.note.clone().filter(|note| *note != current.note);
    if let Some(note) = &note {
        policy.check_note(note.as_deref())?;
        diff.note("note", &current.note, note);
    }
    let shaping = rate_shaping(&edit, current)?;
    if let Some((limit, burst)) = shaping {
        if limit != current.rate_limit_per_minute {
            diff.note(
                "rate_limit_per_minute",
                current.rate_limit_per_minute,
                limit,
            );
        }
        if burst != current.rate_limit_burst {
            diff.note("rate_limit_burst", current.rate_limit_burst, burst);
        }
    }
    let allowlist = edit
        .ip_allowlist
        .clone()
        .filter(|allowlist| *allowlist != key.ip_allowlist);
    if let Some(allowlist) = &allowlist {
        diff.note(
            "ip_allowlist",
            &current.ip_allowlist,
            allowlist
                .as_ref()
                .map(IpAllowlist::entries)
                .unwrap_or_default(),
        );
    }
    let credits = credit_changes(&edit, &key)?;
    if let Some(remaining) = credits.remaining {
        diff.note("credits", key.credits.map(|plan| plan.remaining), remaining);
    }
    if let Some(refill) = credits.refill {
        diff.note(
            "credits_refill",
            refill_json(key.credits.and_then(|plan| plan.refill)),
            refill_json(refill),
        );
    }
    let expires_at = edit.expires_at.filter(|at| Some(*at) != key.expires_at);
    if let Some(at) = expires_at {
        let field = edit.expiry_field;
        ensure_not_later(&key, at, field)?;
        let on_field = |breach: PolicyBreach| AppError::invalid(field, breach.to_string());
        if let Some(max_days) = policy.max_lifetime_days
            && policy
                .latest_expiry(current.created_at)
                .is_some_and(|latest| latest <= now)
        {
            return Err(on_field(PolicyBreach::OutlivedItsLifetime { max_days }));
        }
        policy
            .check_expiry(current.created_at, Some(at))
            .map_err(on_field)?;
        diff.note("expires_at", key.expires_at, at);
    }
    let Diff { before, after } = diff;
    if after.is_empty() {
        return Ok(());
    }
    let refill = RefillColumns::of(credits.refill.flatten(), now);
    // One statement whatever changed: a field left out keeps its value. The
    // balance is written only when set, so credits spent meanwhile stay spent.
    let digest: String = sqlx::query_scalar(
        "UPDATE api_keys SET
             name = COALESCE($1, name),
             note = CASE WHEN $2 = 1 THEN $3 ELSE note END,
             rate_limit_per_minute = CASE WHEN $4 = 1 THEN $5 ELSE rate_limit_per_minute END,
             rate_limit_burst = CASE WHEN $4 = 1 THEN $6 ELSE rate_limit_burst END,
             expires_at = COALESCE($7, expires_at),
             expiry_days = CASE WHEN $7 IS NULL THEN expiry_days ELSE NULL END,
             ip_allowlist = CASE WHEN $8 = 1 THEN $9 ELSE ip_allowlist END,
             credits_remaining = CASE WHEN $10 = 1 THEN $11 ELSE credits_remaining END,
             credits_refill_amount = CASE WHEN $12 = 1 THEN $13 ELSE credits_refill_amount END,
             credits_refill_period = CASE WHEN $12 = 1 THEN $14 ELSE credits_refill_period END,
             credits_refill_day = CASE WHEN $12 = 1 THEN $15 ELSE credits_refill_day END,
             credits_refill_at = CASE WHEN $12 = 1 THEN $16 ELSE credits_refill_at END
         WHERE id = $17 RETURNING digest",
    )
    .bind(name.as_deref())
    .bind(i64::from(note.is_some()))
    .bind(note.flatten())
    .bind(i64::from(shaping.is_some()))
    .bind(shaping.and_then(|(limit, _)| limit).map(i64::from))
    .bind(shaping.and_then(|(_, burst)| burst).map(i64::from))
    .bind(expires_at.map(to_micros))
    .bind(i64::from(allowlist.is_some()))
    .bind(allowlist.flatten().as_ref().map(IpAllowlist::to_json))
    .bind(i64::from(credits.remaining.is_some()))
    .bind(
        credits
            .remaining
            .flatten()
            .map(|remaining| remaining as i64),
    )
    .bind(i64::from(credits.refill.is_some()))
    .bind(refill.amount)
    .bind(refill.period)
    .bind(refill.day)
    .bind(refill.at)
    .bind(key_id)
    .fetch_one(&mut *tx)
    .await?;
    // The cached entry holds the old name, limit and expiry: every instance must forget it.
    let change = Change::Keys(vec![digest]);
    notify_in_tx(&mut tx, &change).await?;
    let label = target_label(name.as_deref().unwrap_or(&current.name), &current.masked);
    record(
        &mut tx,
        member,
        AuditAction::KeyUpdated,
        KeyLabel {
            id: key_id,
            label: &label,
        },
        json!({ "before": before, "after": after }),
        now,
        client,
    )
    .await?;
    tx.commit().await?;
    db.changes().publish(&change);
    Ok(())
}

/// The changed fields of an edit, before and after, for its `key.updated` entry.
#[derive(Default)]
struct Diff {
    before: serde_json::Map<String, serde_json::Value>,
    after: serde_json::Map<String, serde_json::Value>,
}

impl Diff {
    fn note(&mut self, field: &str, before: impl serde::Serialize, after: impl serde::Serialize) {
        self.before.insert(field.into(), json!(before));
        self.after.insert(field.into(), json!(after));
    }
}

/// The limit and burst after an edit, when either changes. Removing the limit
/// removes its burst; a burst must still fit the limit.
fn rate_shaping(edit: &KeyEdit, current: &super::KeyView) -> Result<Option<RateShaping>, AppError> {
    let (limit, burst) =
        edit.rate_shaping_after((current.rate_limit_per_minute, current.rate_limit_burst));
    check_burst(limit, burst)?;
    let unchanged = limit == current.rate_limit_per_minute && burst == current.rate_limit_burst;
    Ok((!unchanged).then_some((limit, burst)))
}

/// What an edit writes of a key's credits: a new balance (`Some(None)`:
/// unlimited), a new refill (`Some(None)`: none); `None` leaves it.
#[derive(Clone, Copy, Default)]
struct CreditChanges {
    remaining: Option<Option<u64>>,
    refill: Option<Option<CreditRefill>>,
}

fn credit_changes(edit: &KeyEdit, key: &LoadedKey) -> Result<CreditChanges, AppError> {
    let current = key.credits;
    let current_refill = current.and_then(|plan| plan.refill);
    let current_remaining = current.map(|plan| plan.remaining);
    let mut changes = CreditChanges {
        remaining: edit
            .credits_remaining
            .filter(|remaining| *remaining != current_remaining),
        refill: edit
            .credits_refill
            .filter(|refill| *refill != current_refill),
    };
    match changes.remaining {
        // Unlimited again: the refill goes with the credits.
        Some(None) => {
            changes.refill = current_refill.map(|_| None);
            if current.is_none() {
                changes.remaining = None;
            }
        }
        Some(Some(_)) => {}
        None if current.is_none() && changes.refill.flatten().is_some() => {
            return Err(super::credits::needs_credits());
        }
        None => {}
    }
    Ok(changes)
}

fn refill_json(refill: Option<CreditRefill>) -> serde_json::Value {
    match refill {
        None => serde_json::Value::Null,
        Some(refill) => json!({
            "amount": refill.amount,
            "period": refill.period.as_str(),
            "day": refill.period.day(),
        }),
    }
}

/// An edit brings an expiry earlier, never later (nor removes it): a longer
/// life is a new key's, through a rotation.
fn ensure_not_later(
    key: &LoadedKey,
    at: DateTime<Utc>,
    field: &'static str,
) -> Result<(), AppError> {
    match key.expires_at {
        Some(current) if at > current => Err(AppError::invalid(
            field,
            format!(
                "An edit can only bring the expiry earlier than it is ({}). For a longer life, rotate into a new key.",
                current.format("%Y-%m-%d %H:%M UTC")
            ),
        )),
        _ => Ok(()),
    }
}

/// Whether revoking a key also revokes the keys it minted through `/api/v1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cascade {
    /// Only the key itself.
    KeyOnly,
    /// The key and, transitively, every key minted by it or by what it minted.
    MintedKeysToo,
}

/// Revokes a key at once (and with [`Cascade::MintedKeysToo`] what it minted).
/// Irreversible; revoking an already revoked key is refused. Returns how many
/// minted keys the cascade revoked.
pub async fn revoke(
    db: &Db,
    member: &Member,
    key_id: &str,
    reason: Option<String>,
    cascade: Cascade,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<usize, AppError> {
    member.require(Role::Developer)?;
    let mut tx = db.begin().await?;
    lock(&mut tx, &member.workspace_id).await?;
    let key = load(&mut tx, member, key_id, now).await?;
    ensure_may_manage(member, &key)?;
    // An already revoked key may still be revoked "with what it minted": a
    // key-only revoke earlier must not leave its minted keys out of reach.
    let digest = match (key.status, cascade) {
        (KeyStatus::Revoked, Cascade::KeyOnly) => {
            return Err(AppError::conflict("This key is already revoked."));
        }
        (KeyStatus::Revoked, Cascade::MintedKeysToo) => None,
        _ => {
            let digest = mark_revoked(
                &mut tx,
                KeyId(key_id),
                Some(UserId(&member.user_id)),
                reason.as_deref(),
                now,
            )
            .await?;
            record(
                &mut tx,
                member,
                AuditAction::KeyRevoked,
                KeyLabel {
                    id: key_id,
                    label: &target_label(&key.view.name, &key.view.masked),
                },
                json!({
                    "before": { "status": key.status },
                    "after": { "status": KeyStatus::Revoked, "reason": reason },
                }),
                now,
                client,
            )
            .await?;
            outbox::key_event(
                &mut tx,
                &member.workspace_id,
                EventType::KeyRevoked,
                key_id,
                EventActor::member(member),
                json!({ "reason": reason, "automatic": false }),
                now,
            )
            .await?;
            digest
        }
    };
    let (cascaded, count) = match cascade {
        Cascade::KeyOnly => (None, 0),
        Cascade::MintedKeysToo => {
            let cause = AutoRevokeCause::MintingKeyRevoked { key_id };
            auto_revoke(&mut tx, &member.workspace_id, cause, member, now, client).await?
        }
    };
    tx.commit().await?;
    outbox::wake(db);
    for change in digest
        .map(|digest| Change::Keys(vec![digest]))
        .into_iter()
        .chain(cascaded)
    {
        db.changes().publish(&change);
    }
    Ok(count)
}

/// Why keys are revoked without anyone choosing each one.
#[derive(Clone, Copy, Debug)]
pub enum AutoRevokeCause<'a> {
    /// The member who created them was removed from the workspace.
    MemberRemoved { user_id: &'a str },
    /// An admin offboarded the whole workspace.
    Offboarded,
    /// The API key that minted them (directly or through keys it minted) was revoked.
    MintingKeyRevoked { key_id: &'a str },
}

/// Revokes, inside the caller's transaction, every still-usable key the cause
/// covers, with one `key.auto_revoked` entry each. Returns what the caller
/// publishes to the caches after committing, and how many keys it revoked.
pub async fn auto_revoke(
    tx: &mut Tx,
    workspace_id: &str,
    cause: AutoRevokeCause<'_>,
    actor: &Member,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<(Option<Change>, usize), sqlx::Error> {
    let (sql, reason, related) = match cause {
        AutoRevokeCause::MemberRemoved { user_id } => (
            "SELECT id, name, prefix, body_start, last4 FROM api_keys
             WHERE workspace_id = $1 AND revoked_at IS NULL AND created_by = $2",
            "The member who owned it was removed from the workspace.",
            Some(user_id),
        ),
        AutoRevokeCause::Offboarded => (
            "SELECT id, name, prefix, body_start, last4 FROM api_keys
             WHERE workspace_id = $1 AND revoked_at IS NULL",
            "The workspace was offboarded.",
            None,
        ),
        AutoRevokeCause::MintingKeyRevoked { key_id } => (
            MINTED_UNREVOKED_KEYS.as_str(),
            "The API key that created it was revoked.",
            Some(key_id),
        ),
    };
    let mut query = sqlx::query_as::<_, LabelledKey>(sql).bind(workspace_id);
    if let Some(related) = related {
        query = query.bind(related);
    }
    let keys = query.fetch_all(&mut **tx).await?;
    let mut digests = Vec::with_capacity(keys.len());
    for key in &keys {
        digests.extend(
            mark_revoked(
                tx,
                KeyId(&key.id),
                Some(UserId(&actor.user_id)),
                Some(reason),
                now,
            )
            .await?,
        );
        append(
            tx,
            now,
            NewEntry {
                workspace_id: Some(workspace_id),
                actor: Actor::SYSTEM,
                action: AuditAction::KeyAutoRevoked,
                target: Some(Target::new(TargetKind::Key, &key.id, &key.label())),
                client,
                changes: Some(json!({
                    "after": { "status": KeyStatus::Revoked, "reason": reason },
                    "requested_by": actor.user_id,
                })),
            },
        )
        .await?;
        outbox::key_event(
            tx,
            workspace_id,
            EventType::KeyRevoked,
            &key.id,
            EventActor::SYSTEM,
            json!({ "reason": reason, "automatic": true }),
            now,
        )
        .await?;
    }
    Ok((Change::keys(digests), keys.len()))
}

/// Refuses unless `member` still has at least `role` in their workspace, as
/// read inside the caller's transaction (after its workspace lock).
pub(super) async fn ensure_still_member(
    tx: &mut Tx,
    member: &Member,
    role: Role,
) -> Result<(), AppError> {
    let current: Option<String> =
        sqlx::query_scalar("SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2")
            .bind(&member.workspace_id)
            .bind(&member.user_id)
            .fetch_optional(&mut **tx)
            .await?;
    match current.as_deref().and_then(Role::parse) {
        Some(current) if current.includes(role) => Ok(()),
        _ => Err(AppError::Forbidden),
    }
}

/// Refuses unless the key `key_id` still verifies at `now` (not revoked, not past its end).
async fn ensure_key_still_verifies(
    tx: &mut Tx,
    key_id: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let usable = sqlx::query(
        "SELECT 1 FROM api_keys WHERE id = $1 AND revoked_at IS NULL
           AND (expires_at IS NULL OR expires_at > $2)
           AND (grace_ends_at IS NULL OR grace_ends_at > $2)",
    )
    .bind(key_id)
    .bind(to_micros(now))
    .fetch_optional(&mut **tx)
    .await?;
    match usable {
        Some(_) => Ok(()),
        None => Err(AppError::Forbidden),
    }
}

/// Revokes every key of the workspace, after the admin typed its name.
pub async fn offboard(
    db: &Db,
    member: &Member,
    confirmation: &str,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<usize, AppError> {
    member.require(Role::Admin)?;
    if confirmation.trim() != member.workspace_name {
        return Err(AppError::invalid(
            "confirmation",
            format!(
                "Type the workspace name, {}, to confirm.",
                member.workspace_name
            ),
        ));
    }
    let mut tx = db.begin().await?;
    lock(&mut tx, &member.workspace_id).await?;
    let (change, count) = auto_revoke(
        &mut tx,
        &member.workspace_id,
        AutoRevokeCause::Offboarded,
        member,
        now,
        client,
    )
    .await?;
    let token_changes = crate::service_tokens::store::revoke_all(
        &mut tx,
        &member.workspace_id,
        member,
        now,
        client,
    )
    .await?;
    append(
        &mut tx,
        now,
        NewEntry::by_member(
            member,
            AuditAction::WorkspaceOffboarded,
            Target::new(
                TargetKind::Workspace,
                &member.workspace_id,
                &member.workspace_name,
            ),
            client,
        )
        .with_changes(json!({ "after": {
                "keys_revoked": count,
                "service_tokens_revoked": token_changes.len(),
            } })),
    )
    .await?;
    tx.commit().await?;
    outbox::wake(db);
    for change in change.into_iter().chain(token_changes) {
        db.changes().publish(&change);
    }
    Ok(count)
}

/// Names are unique among the workspace's keys that still verify, so that two
/// live keys never look alike in the list; a rotation's old key keeps its name.
async fn ensure_name_free(
    tx: &mut Tx,
    workspace_id: &str,
    name: &str,
    except_key: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let now = to_micros(now);
    let taken = sqlx::query(
        "SELECT 1 FROM api_keys
         WHERE workspace_id = $1 AND lower(name) = lower($2) AND revoked_at IS NULL
           AND grace_ends_at IS NULL AND (expires_at IS NULL OR expires_at > $3)
           AND id <> $4
         LIMIT 1",
    )
    .bind(workspace_id)
    .bind(name)
    .bind(now)
    // Renaming a key to another spelling of its own name is no clash; ids are never empty.
    .bind(except_key.unwrap_or(""))
    .fetch_optional(&mut **tx)
    .await?;
    if taken.is_some() {
        return Err(AppError::invalid(
            "name",
            "An active key already has this name. Choose another name, or revoke that key first.",
        ));
    }
    Ok(())
}

/// Inserts a key owned by `owner_id`.
async fn insert(
    tx: &mut Tx,
    workspace_id: WorkspaceId<'_>,
    owner_id: UserId<'_>,
    new: &NewKey,
    secret: &SecretKey,
    now: DateTime<Utc>,
) -> Result<String, AppError> {
    let id = uuid::Uuid::new_v4().to_string();
    let parts = secret.display_parts();
    let scopes = serde_json::to_string(&new.scopes).map_err(|_| AppError::Internal)?;
    let refill = RefillColumns::of(new.credits.and_then(|plan| plan.refill), now);
    sqlx::query(
        "INSERT INTO api_keys (id, workspace_id, name, note, environment, digest, prefix,
             body_start, last4, scopes, expiry_days, expires_at, rate_limit_per_minute,
             created_by, created_at, minted_by_key, rate_limit_burst, ip_allowlist,
             credits_remaining, credits_refill_amount, credits_refill_period,
             credits_refill_day, credits_refill_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
             $18, $19, $20, $21, $22, $23)",
    )
    .bind(&id)
    .bind(workspace_id.as_str())
    .bind(&new.name)
    .bind(new.note.as_deref())
    .bind(new.environment.as_str())
    .bind(secret.digest().as_str())
    .bind(&parts.prefix)
    .bind(&parts.start)
    .bind(&parts.last4)
    .bind(scopes)
    .bind(new.expiry.days())
    .bind(new.expiry.expires_at(now).map(to_micros))
    .bind(new.rate_limit_per_minute.map(i64::from))
    .bind(owner_id.as_str())
    .bind(to_micros(now))
    .bind(new.minted_by_key.as_deref())
    .bind(new.rate_limit_burst.map(i64::from))
    .bind(new.ip_allowlist.as_ref().map(IpAllowlist::to_json))
    .bind(new.credits.map(|plan| plan.remaining as i64))
    .bind(refill.amount)
    .bind(refill.period)
    .bind(refill.day)
    .bind(refill.at)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Revokes, as `system` and inside the caller's transaction, a key that a leak
/// report found (issue 16): the same marking and notification as a member's
/// revoke, and a `key.revoked` entry with `reason`. Returns the digest the
/// caller publishes to the caches after committing, or `None` when the key was
/// already revoked.
pub(crate) async fn revoke_leaked(
    tx: &mut Tx,
    workspace_id: &str,
    key: (KeyId<'_>, &str),
    status_before: KeyStatus,
    reason: &str,
    now: DateTime<Utc>,
    client: &ClientInfo,
) -> Result<Option<String>, sqlx::Error> {
    let (key_id, label) = key;
    let digest = mark_revoked(tx, key_id, None, Some(reason), now).await?;
    if digest.is_some() {
        append(
            tx,
            now,
            NewEntry {
                workspace_id: Some(workspace_id),
                actor: Actor::SYSTEM,
                action: AuditAction::KeyRevoked,
                target: Some(Target::new(TargetKind::Key, key_id.as_str(), label)),
                client,
                changes: Some(json!({
                    "before": { "status": status_before },
                    "after": { "status": KeyStatus::Revoked, "reason": reason },
                })),
            },
        )
        .await?;
        outbox::key_event(
            tx,
            workspace_id,
            EventType::KeyRevoked,
            key_id.as_str(),
            EventActor::SYSTEM,
            json!({ "reason": reason, "automatic": true }),
            now,
        )
        .await?;
    }
    Ok(digest)
}

/// Marks a key revoked and queues the cross-instance notification; returns its
/// digest for the local cache, or `None` if it was already revoked. `by` is
/// `None` when no person chose it (a leak report).
async fn mark_revoked(
    tx: &mut Tx,
    key_id: KeyId<'_>,
    by: Option<UserId<'_>>,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<String>, sqlx::Error> {
    let digest: Option<String> = sqlx::query_scalar(
        "UPDATE api_keys SET revoked_at = $1, revoked_by = $2, revoke_reason = $3
         WHERE id = $4 AND revoked_at IS NULL RETURNING digest",
    )
    .bind(to_micros(now))
    .bind(by.map(UserId::as_str))
    .bind(reason)
    .bind(key_id.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(digest) = &digest {
        notify_in_tx(tx, &Change::Keys(vec![digest.clone()])).await?;
    }
    Ok(digest)
}
