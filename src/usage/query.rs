//! Reading usage for the pages and the API. (Being written: returns empty series.)

use super::{KeyUsage, UsageBucket, UsageRange, UsageSeries, WorkspaceUsage, OutcomeCounts};
use crate::auth::access::Member;
use crate::db::Db;
use crate::error::AppError;
use chrono::{DateTime, Utc};

pub async fn key_usage(
    _db: &Db,
    _member: &Member,
    _key_id: &str,
    range: UsageRange,
    now: DateTime<Utc>,
) -> Result<Option<KeyUsage>, AppError> {
    Ok(Some(KeyUsage {
        range,
        series: empty_series(range, now),
        ips: Vec::new(),
        now,
    }))
}

pub async fn workspace_usage(
    _db: &Db,
    member: &Member,
    range: UsageRange,
    now: DateTime<Utc>,
) -> Result<WorkspaceUsage, AppError> {
    Ok(WorkspaceUsage {
        range,
        series: empty_series(range, now),
        top_keys: Vec::new(),
        refused_keys: Vec::new(),
        only_own_keys: member.role != crate::workspaces::Role::Admin,
        now,
    })
}

/// Every bucket of the range, zeros, oldest first, the last one holding `now`.
pub fn empty_series(range: UsageRange, now: DateTime<Utc>) -> UsageSeries {
    let granularity = range.granularity();
    let width = granularity.width();
    let count = (range.length().num_seconds() / width.num_seconds()) as i32;
    let last = granularity.bucket_start(now);
    let buckets = (0..count)
        .rev()
        .map(|back| UsageBucket {
            start: last - width * back,
            counts: OutcomeCounts::default(),
        })
        .collect();
    UsageSeries { granularity, buckets }
}
