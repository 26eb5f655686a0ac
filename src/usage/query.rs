//! Reading usage for the pages and the API.
//!
//! Hours before the roll-up's watermark come from `usage_hours`, everything
//! after it from `usage_minutes` (`retention`), summed into buckets of the
//! asked granularity in SQL; the buckets are then made dense here.
//!
//! Who sees what: a key's usage, admins and the key's owner (the rule of its
//! history); the workspace's, admins (every key, and keys that matched none)
//! and developers (their own keys).

use super::store::UNMATCHED;
use super::{
    ClientIpView, Granularity, KeyUsage, KeyVolume, Outcome, OutcomeCounts, RecentUse, UsageBucket,
    UsageRange, UsageSeries, WorkspaceUsage,
};
use crate::auth::access::Member;
use crate::clock::{from_micros, to_micros};
use crate::db::Db;
use crate::error::AppError;
use crate::keys::{Environment, KeyStatus, KeyView};
use crate::workspaces::Role;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;

/// Which keys' usage a query sums.
#[derive(Clone, Copy, Debug)]
pub enum KeySet<'a> {
    /// Every key of the workspace.
    All,
    /// The keys a member owns.
    OwnedBy(&'a str),
    /// These keys.
    Ids(&'a [&'a str]),
}

/// What a query sums: a set of keys, perhaps of one environment, and perhaps
/// the verifications that matched no key.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    pub workspace_id: &'a str,
    pub keys: KeySet<'a>,
    pub environment: Option<Environment>,
    pub unmatched: bool,
}

impl<'a> Scope<'a> {
    /// What `member` may see of their workspace's usage: admins every key and
    /// the keys that matched none (which belong to no environment, so not in a
    /// series of one environment), developers their own keys.
    pub fn for_member(member: &'a Member, environment: Option<Environment>) -> Self {
        let admin = member.role == Role::Admin;
        Self {
            workspace_id: &member.workspace_id,
            keys: if admin {
                KeySet::All
            } else {
                KeySet::OwnedBy(&member.user_id)
            },
            environment,
            unmatched: admin && environment.is_none(),
        }
    }
}

/// Whether `member` may see the usage of a key `owner_id` owns.
pub fn may_see_key_usage(member: &Member, owner_id: &str) -> bool {
    match member.role {
        Role::Admin => true,
        Role::Developer => member.user_id == owner_id,
        Role::Viewer => false,
    }
}

#[derive(sqlx::FromRow)]
struct CountRow {
    key_id: String,
    bucket: i64,
    #[sqlx(try_from = "String")]
    outcome: Outcome,
    count: i64,
}

/// Where a query reads one stretch of its time range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// Per key and minute: everything after the roll-up's watermark.
    Minutes,
    /// Per key and hour, before the watermark.
    Hours,
    /// Per key and day, before the watermark (whole days from the start of one).
    Days,
    /// Per workspace and hour, before the watermark: every key and the keys that matched none.
    WorkspaceHours,
}

impl Source {
    fn table(self) -> &'static str {
        match self {
            Self::Minutes => "usage_minutes",
            Self::Hours => "usage_hours",
            Self::Days => "usage_days",
            Self::WorkspaceHours => "usage_workspace_hours",
        }
    }

    /// The SELECT of `[from, to)` from this source, with `filter` on keys
    /// (a workspace's totals have no keys: the scope using them is all of them).
    fn select(self, from: &str, to: &str, filter: &str) -> String {
        let (key_id, last_seen, filter) = match self {
            Self::WorkspaceHours => ("''", "bucket_start", ""),
            Self::Days => ("key_id", "last_seen", filter),
            Self::Minutes | Self::Hours => ("key_id", "bucket_start", filter),
        };
        format!(
            "SELECT {key_id} AS key_id, bucket_start, {last_seen} AS last_seen, outcome, count
             FROM {table} WHERE workspace_id = $1 AND bucket_start >= {from} AND bucket_start < {to} {filter}",
            table = self.table()
        )
    }
}

/// One source's stretch `[from, to)` of a query's range (microseconds).
#[derive(Clone, Copy, Debug)]
struct Stretch {
    source: Source,
    from: i64,
    to: i64,
}

/// The stretches `[from, to)` is read from, oldest first, given the watermark:
/// `rolled` up to the watermark, then minutes. When `rolled` is days, the
/// hours before the first midnight come from hours.
fn stretches(from: i64, to: i64, watermark: i64, rolled: Source) -> Vec<Stretch> {
    // Minute buckets are never read from a roll-up.
    let split = if rolled == Source::Minutes {
        from
    } else {
        watermark.clamp(from, to)
    };
    let mut parts = Vec::with_capacity(3);
    if rolled == Source::Days {
        // A day row holds its hours before the watermark, so whole days from
        // the first midnight on; the hours before that midnight one by one.
        let midnight = super::retention::ceil_day(from).min(split);
        parts.push(Stretch {
            source: Source::Hours,
            from,
            to: midnight,
        });
        parts.push(Stretch {
            source: Source::Days,
            from: midnight,
            to: split,
        });
    } else {
        parts.push(Stretch {
            source: rolled,
            from,
            to: split,
        });
    }
    parts.push(Stretch {
        source: Source::Minutes,
        from: split,
        to,
    });
    parts.retain(|part| part.from < part.to);
    parts
}

/// Which rolled-up source serves a scope at a granularity: the workspace's
/// totals for a chart of all of it, days for day buckets, otherwise hours.
fn rolled_source(scope: &Scope<'_>, granularity: Granularity, per_key: bool) -> Source {
    let whole_workspace =
        matches!(scope.keys, KeySet::All) && scope.environment.is_none() && scope.unmatched;
    match granularity {
        Granularity::Minute => Source::Minutes,
        _ if whole_workspace && !per_key => Source::WorkspaceHours,
        // One key's month is at most 720 hour rows an outcome: the key page
        // reads them exactly; days pay off across many keys (the list).
        Granularity::Day if !matches!(scope.keys, KeySet::Ids([_])) => Source::Days,
        Granularity::Day | Granularity::Hour => Source::Hours,
    }
}

/// The rows of some stretches for a scope, as one UNION ALL, and its binds:
/// `$1` the workspace, then each stretch's bounds, then the caller's own
/// binds, then the key filter's.
struct UnionQuery {
    sql: String,
    bounds: Vec<i64>,
    filter_binds: Vec<String>,
}

/// `parts` (not empty) for `scope`, leaving room for `extra_binds` of the caller's.
fn union_of(scope: &Scope<'_>, parts: &[Stretch], extra_binds: usize) -> UnionQuery {
    let mut filter_binds = Vec::new();
    let first_filter_bind = 2 + 2 * parts.len() + extra_binds;
    let filter = key_filter(scope, &mut filter_binds, first_filter_bind);
    let mut bounds = Vec::with_capacity(2 * parts.len());
    let selects: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(n, part)| {
            bounds.extend([part.from, part.to]);
            part.source.select(
                &format!("${}", 2 + 2 * n),
                &format!("${}", 3 + 2 * n),
                &filter,
            )
        })
        .collect();
    UnionQuery {
        sql: selects.join(" UNION ALL "),
        bounds,
        filter_binds,
    }
}

/// Counts in `[from, to)`, summed per `granularity` bucket and outcome, and per
/// key unless `per_key` is false (then `key_id` is '').
async fn counts(
    db: &Db,
    scope: &Scope<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    granularity: Granularity,
    per_key: bool,
) -> Result<Vec<CountRow>, AppError> {
    let watermark = super::retention::rolled_until(db).await?;
    let rolled = rolled_source(scope, granularity, per_key);
    let parts = stretches(to_micros(from), to_micros(to), watermark, rolled);
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let union = union_of(scope, &parts, 1);
    let width_bind = 2 + 2 * parts.len();
    let (key_column, group) = if per_key {
        ("key_id", "key_id, 2, outcome")
    } else {
        ("''", "2, outcome")
    };
    let sql = format!(
        "SELECT {key_column} AS key_id, (bucket_start / ${width_bind}) * ${width_bind} AS bucket, outcome,
                CAST(SUM(count) AS BIGINT) AS count
         FROM ({union}) AS u
         GROUP BY {group}",
        union = union.sql
    );
    let mut query = sqlx::query_as::<_, CountRow>(&sql).bind(scope.workspace_id);
    for bound in union.bounds {
        query = query.bind(bound);
    }
    query = query.bind(granularity.width().num_microseconds().unwrap_or(i64::MAX));
    for bind in union.filter_binds {
        query = query.bind(bind);
    }
    Ok(query.fetch_all(db.pool()).await?)
}

/// The SQL condition on `key_id` for `scope`, its values appended to `binds`
/// (numbered from `first`).
fn key_filter(scope: &Scope<'_>, binds: &mut Vec<String>, first: usize) -> String {
    let next = |value: &str, binds: &mut Vec<String>| {
        binds.push(value.to_owned());
        format!("${}", first + binds.len() - 1)
    };
    // Ids the caller has checked are the workspace's: matched directly, so
    // the planner walks the primary key (workspace, key, time) for just them.
    if let (KeySet::Ids(ids), None) = (scope.keys, scope.environment) {
        let list: Vec<String> = ids.iter().map(|id| next(id, binds)).collect();
        let keys = if list.is_empty() {
            "key_id IN (NULL)".to_owned()
        } else {
            format!("key_id IN ({})", list.join(", "))
        };
        return if scope.unmatched {
            format!("AND ({keys} OR key_id = '{UNMATCHED}')")
        } else {
            format!("AND {keys}")
        };
    }
    let mut conditions = Vec::new();
    if let Some(environment) = scope.environment {
        conditions.push(format!(
            "environment = {}",
            next(environment.as_str(), binds)
        ));
    }
    match scope.keys {
        KeySet::All => {}
        KeySet::OwnedBy(user_id) => {
            conditions.push(format!("created_by = {}", next(user_id, binds)))
        }
        KeySet::Ids(ids) => {
            let list: Vec<String> = ids.iter().map(|id| next(id, binds)).collect();
            conditions.push(format!(
                "id IN ({})",
                if list.is_empty() {
                    "NULL".into()
                } else {
                    list.join(", ")
                }
            ));
        }
    }
    let keys = if conditions.is_empty() {
        "key_id <> ''".to_owned()
    } else {
        format!(
            "key_id IN (SELECT id FROM api_keys WHERE workspace_id = $1 AND {})",
            conditions.join(" AND ")
        )
    };
    if scope.unmatched {
        format!("AND ({keys} OR key_id = '{UNMATCHED}')")
    } else {
        format!("AND {keys}")
    }
}

/// A dense series over `[from, to)`: every bucket from the one `from` is in to
/// the one just before `to`, zeros where nothing was counted.
fn dense(
    granularity: Granularity,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    rows: &[CountRow],
) -> UsageSeries {
    let width = granularity.width();
    let mut by_bucket: HashMap<i64, OutcomeCounts> = HashMap::new();
    for row in rows {
        by_bucket
            .entry(row.bucket)
            .or_default()
            .add(row.outcome, u64::try_from(row.count).unwrap_or(0));
    }
    let mut buckets = Vec::new();
    let mut start = granularity.bucket_start(from);
    while start < to {
        buckets.push(UsageBucket {
            start,
            counts: by_bucket.remove(&to_micros(start)).unwrap_or_default(),
        });
        start += width;
    }
    UsageSeries {
        granularity,
        buckets,
    }
}

/// `[from, to)` of a dashboard range: whole buckets, the last one holding `now`.
pub fn range_bounds(range: UsageRange, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let granularity = range.granularity();
    let width = granularity.width();
    let buckets = range.length().num_seconds() / width.num_seconds();
    let last = granularity.bucket_start(now);
    let buckets = i32::try_from(buckets).unwrap_or(i32::MAX);
    (last - width * (buckets - 1), last + width)
}

/// A series for a scope (the API's and the pages' one reader).
pub async fn series(
    db: &Db,
    scope: &Scope<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    granularity: Granularity,
) -> Result<UsageSeries, AppError> {
    let from = granularity.bucket_start(from);
    let rows = counts(db, scope, from, to, granularity, false).await?;
    Ok(dense(granularity, from, to, &rows))
}

/// Every bucket of the range, zeros (what a page shows before anything was counted).
pub fn empty_series(range: UsageRange, now: DateTime<Utc>) -> UsageSeries {
    let (from, to) = range_bounds(range, now);
    dense(range.granularity(), from, to, &[])
}

/// The key page's usage: `None` when the member may see the key but not its usage.
pub async fn key_usage(
    db: &Db,
    member: &Member,
    key_id: &str,
    range: UsageRange,
    now: DateTime<Utc>,
) -> Result<Option<KeyUsage>, AppError> {
    let owner = key_owner(db, &member.workspace_id, key_id).await?;
    if !may_see_key_usage(member, &owner) {
        return Ok(None);
    }
    let ids = [key_id];
    let scope = Scope {
        workspace_id: &member.workspace_id,
        keys: KeySet::Ids(&ids),
        environment: None,
        unmatched: false,
    };
    let (from, to) = range_bounds(range, now);
    Ok(Some(KeyUsage {
        range,
        series: series(db, &scope, from, to, range.granularity()).await?,
        ips: client_ips(db, key_id).await?,
        now,
    }))
}

/// Who owns a key of the workspace; "not found" for any other id.
pub async fn key_owner(db: &Db, workspace_id: &str, key_id: &str) -> Result<String, AppError> {
    if crate::text::has_control(key_id) {
        return Err(no_such_key());
    }
    let owner: Option<String> =
        sqlx::query_scalar("SELECT created_by FROM api_keys WHERE workspace_id = $1 AND id = $2")
            .bind(workspace_id)
            .bind(key_id)
            .fetch_optional(db.pool())
            .await?;
    owner.ok_or_else(no_such_key)
}

fn no_such_key() -> AppError {
    AppError::not_found("There is no such key in this workspace.")
}

#[derive(sqlx::FromRow)]
struct IpRow {
    ip: String,
    first_seen: i64,
    last_seen: i64,
    count: i64,
}

/// The IPs a key was presented from, most recently seen first.
pub async fn client_ips(db: &Db, key_id: &str) -> Result<Vec<ClientIpView>, AppError> {
    let rows: Vec<IpRow> = sqlx::query_as(
        "SELECT ip, first_seen, last_seen, count FROM key_client_ips
         WHERE key_id = $1 ORDER BY last_seen DESC, ip DESC LIMIT $2",
    )
    .bind(key_id)
    .bind(super::recorder::IPS_PER_KEY as i64)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| ClientIpView {
            ip: row.ip,
            first_seen: from_micros(row.first_seen),
            last_seen: from_micros(row.last_seen),
            count: u64::try_from(row.count).unwrap_or(0),
        })
        .collect())
}

/// Keys per table of the Usage page.
const TOP_KEYS: usize = 10;

/// The workspace's Usage page.
pub async fn workspace_usage(
    db: &Db,
    member: &Member,
    range: UsageRange,
    now: DateTime<Utc>,
) -> Result<WorkspaceUsage, AppError> {
    let scope = Scope::for_member(member, None);
    let (from, to) = range_bounds(range, now);
    let series = series(db, &scope, from, to, range.granularity()).await?;
    let key_scope = Scope {
        unmatched: false,
        ..scope
    };
    let volumes = key_volumes(db, &key_scope, from, to, now).await?;
    let mut top_keys: Vec<KeyVolume> = volumes.clone();
    top_keys.sort_by(|a, b| {
        b.counts
            .total()
            .cmp(&a.counts.total())
            .then(a.name.cmp(&b.name))
    });
    top_keys.truncate(TOP_KEYS);
    let mut refused_keys: Vec<KeyVolume> = volumes
        .into_iter()
        .filter(|volume| volume.counts.refused() > 0)
        .collect();
    // Keys that no longer work but are still presented first: someone still uses the old key.
    refused_keys.sort_by(|a, b| {
        let dead = |v: &KeyVolume| !v.status.verifies();
        dead(b)
            .cmp(&dead(a))
            .then(b.counts.refused().cmp(&a.counts.refused()))
            .then(a.name.cmp(&b.name))
    });
    refused_keys.truncate(TOP_KEYS);
    Ok(WorkspaceUsage {
        range,
        series,
        top_keys,
        refused_keys,
        only_own_keys: member.role != Role::Admin,
        now,
    })
}

/// One key's count of one outcome over a range, with what the tables show of the key.
#[derive(sqlx::FromRow)]
struct KeyTotalRow {
    key_id: String,
    #[sqlx(try_from = "String")]
    outcome: Outcome,
    count: i64,
    last_seen: i64,
    name: String,
    environment: String,
    prefix: String,
    body_start: String,
    last4: String,
    revoked_at: Option<i64>,
    grace_ends_at: Option<i64>,
    expires_at: Option<i64>,
}

/// Each key's counts over `[from, to)`, with its name and status.
async fn key_volumes(
    db: &Db,
    scope: &Scope<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<KeyVolume>, AppError> {
    let watermark = super::retention::rolled_until(db).await?;
    // Whole days from the per-day rows: a month of 1 000 busy keys is 30 000 rows, not 720 000.
    let parts = stretches(to_micros(from), to_micros(to), watermark, Source::Days);
    if parts.is_empty() {
        return Ok(Vec::new());
    }
    let union = union_of(scope, &parts, 0);
    // The names joined here, not asked for by id afterwards: a list of a
    // thousand ids was compared with every key of the workspace, one by one.
    let sql = format!(
        "SELECT t.key_id, t.outcome, t.count, t.last_seen, k.name, k.environment, k.prefix,
                k.body_start, k.last4, k.revoked_at, k.grace_ends_at, k.expires_at
         FROM (SELECT key_id, outcome, CAST(SUM(count) AS BIGINT) AS count, MAX(last_seen) AS last_seen
               FROM ({union}) AS u
               GROUP BY key_id, outcome) AS t
         JOIN api_keys k ON k.workspace_id = $1 AND k.id = t.key_id",
        union = union.sql
    );
    let mut query = sqlx::query_as::<_, KeyTotalRow>(&sql).bind(scope.workspace_id);
    for bound in union.bounds {
        query = query.bind(bound);
    }
    for bind in union.filter_binds {
        query = query.bind(bind);
    }
    let mut volumes: HashMap<String, KeyVolume> = HashMap::new();
    for row in query.fetch_all(db.pool()).await? {
        let count = u64::try_from(row.count).unwrap_or(0);
        let last_seen = from_micros(row.last_seen);
        if let Some(volume) = volumes.get_mut(&row.key_id) {
            volume.counts.add(row.outcome, count);
            volume.last_seen = volume.last_seen.max(Some(last_seen));
            continue;
        }
        let Some(environment) = Environment::parse(&row.environment) else {
            continue;
        };
        let time = |micros: Option<i64>| micros.map(from_micros);
        let mut counts = OutcomeCounts::default();
        counts.add(row.outcome, count);
        let volume = KeyVolume {
            status: KeyStatus::at(
                now,
                time(row.revoked_at),
                time(row.grace_ends_at),
                time(row.expires_at),
            ),
            masked: crate::keys::format::masked(&row.prefix, &row.body_start, &row.last4),
            key_id: row.key_id.clone(),
            name: row.name,
            environment,
            counts,
            last_seen: Some(last_seen),
        };
        volumes.insert(row.key_id, volume);
    }
    Ok(volumes.into_values().collect())
}

/// Fills the list's sparklines: each key's last 7 days, for the keys the member may see the usage of.
pub async fn fill_recent_use(
    db: &Db,
    member: &Member,
    keys: &mut [KeyView],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let ids: Vec<&str> = keys
        .iter()
        .filter(|key| may_see_key_usage(member, &key.created_by_id))
        .map(|key| key.id.as_str())
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let scope = Scope {
        workspace_id: &member.workspace_id,
        keys: KeySet::Ids(&ids),
        environment: None,
        unmatched: false,
    };
    let granularity = Granularity::Day;
    let today = granularity.bucket_start(now);
    let (from, to) = (today - Duration::days(6), today + Duration::days(1));
    let rows = counts(db, &scope, from, to, granularity, true).await?;
    let new_ips = keys_with_new_ips(db, &ids, now).await?;
    let mut daily: HashMap<&str, Vec<u64>> = HashMap::new();
    for row in &rows {
        let day = usize::try_from((row.bucket - to_micros(from)) / 86_400_000_000).unwrap_or(0);
        let days = daily
            .entry(row.key_id.as_str())
            .or_insert_with(|| vec![0; 7]);
        if let Some(slot) = days.get_mut(day) {
            *slot += u64::try_from(row.count).unwrap_or(0);
        }
    }
    let visible: std::collections::HashSet<String> =
        ids.iter().map(|id| (*id).to_owned()).collect();
    for key in keys.iter_mut().filter(|key| visible.contains(&key.id)) {
        key.recent_use = Some(RecentUse {
            daily: daily
                .get(key.id.as_str())
                .cloned()
                .unwrap_or_else(|| vec![0; 7]),
            new_ip: new_ips.contains(&key.id),
        });
    }
    Ok(())
}

async fn keys_with_new_ips(
    db: &Db,
    ids: &[&str],
    now: DateTime<Utc>,
) -> Result<std::collections::HashSet<String>, AppError> {
    let placeholders: Vec<String> = (0..ids.len()).map(|n| format!("${}", n + 2)).collect();
    let sql = format!(
        "SELECT DISTINCT key_id FROM key_client_ips WHERE first_seen > $1 AND key_id IN ({})",
        placeholders.join(", ")
    );
    let mut query =
        sqlx::query_scalar::<_, String>(&sql).bind(to_micros(now - super::NEW_IP_WINDOW));
    for id in ids {
        query = query.bind(*id);
    }
    Ok(query.fetch_all(db.pool()).await?.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000_000;
    const DAY: i64 = 24 * HOUR;

    fn shape(parts: &[Stretch]) -> Vec<(Source, i64, i64)> {
        parts.iter().map(|p| (p.source, p.from, p.to)).collect()
    }

    #[test]
    fn days_cover_whole_days_up_to_the_watermark() {
        // From 10:00 on day 1 to 12:30 on day 8, rolled up until 11:00 on day 8.
        let (from, watermark, to) = (
            DAY + 10 * HOUR,
            8 * DAY + 11 * HOUR,
            8 * DAY + 12 * HOUR + HOUR / 2,
        );
        assert_eq!(
            shape(&stretches(from, to, watermark, Source::Days)),
            [
                (Source::Hours, from, 2 * DAY),
                (Source::Days, 2 * DAY, watermark),
                (Source::Minutes, watermark, to),
            ]
        );
        // From a midnight: no hours at all.
        assert_eq!(
            shape(&stretches(2 * DAY, to, watermark, Source::Days))[0],
            (Source::Days, 2 * DAY, watermark)
        );
    }

    #[test]
    fn a_range_before_the_next_midnight_or_the_watermark_reads_what_exists() {
        // The watermark before the first midnight: hours, then minutes.
        let (from, watermark, to) = (DAY + 10 * HOUR, DAY + 15 * HOUR, DAY + 20 * HOUR);
        assert_eq!(
            shape(&stretches(from, to, watermark, Source::Days)),
            [
                (Source::Hours, from, watermark),
                (Source::Minutes, watermark, to)
            ]
        );
        // Nothing rolled up in the range: minutes only; minute buckets always.
        assert_eq!(
            shape(&stretches(from, to, 0, Source::Hours)),
            [(Source::Minutes, from, to)]
        );
        assert_eq!(
            shape(&stretches(from, to, to + DAY, Source::Minutes)),
            [(Source::Minutes, from, to)]
        );
        // Everything rolled up: no minutes.
        assert_eq!(
            shape(&stretches(from, to, to + DAY, Source::WorkspaceHours)),
            [(Source::WorkspaceHours, from, to)]
        );
    }
}
