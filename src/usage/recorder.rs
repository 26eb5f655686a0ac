//! Usage counted in memory on the verify hot path: per key, per minute and
//! outcome, the client IPs per key, and per workspace the verifications that
//! matched no key. Taken out whole by each flush ([`UsageRecorder::take`]) and
//! put back if writing it failed, so a store that is away loses nothing.

use super::{Outcome, OutcomeCounts};
use dashmap::DashMap;
use std::net::IpAddr;

/// The most IPs remembered per key, in memory between flushes and in the
/// store: a flood of spoofed `client_ip`s replaces old ones, never grows.
pub const IPS_PER_KEY: usize = 50;

const MINUTE_MICROS: i64 = 60_000_000;

/// The most minutes one key keeps in memory while flushes fail (the store is
/// away): two hours. Beyond that the oldest are dropped, with a warning, so an
/// outage cannot grow memory without limit.
pub const PENDING_MINUTES_PER_KEY: usize = 120;

/// Counts of one subject (a key, or a workspace's unmatched keys) in one minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinuteCounts {
    /// The minute's start, microseconds since the epoch.
    pub minute: i64,
    pub counts: OutcomeCounts,
}

/// A client IP as seen between two flushes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeenIp {
    pub ip: IpAddr,
    pub first_seen: i64,
    pub last_seen: i64,
    pub count: u64,
}

/// One key's usage since the last flush.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PendingKey {
    pub workspace_id: String,
    /// Oldest first; nearly always one or two minutes.
    pub minutes: Vec<MinuteCounts>,
    /// At most [`IPS_PER_KEY`].
    pub ips: Vec<SeenIp>,
}

/// Everything one flush writes.
#[derive(Debug, Default)]
pub struct PendingUsage {
    /// By key id.
    pub keys: Vec<(String, PendingKey)>,
    /// By workspace id: verifications that matched none of its keys.
    pub unmatched: Vec<(String, Vec<MinuteCounts>)>,
}

impl PendingUsage {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.unmatched.is_empty()
    }
}

#[derive(Default)]
pub struct UsageRecorder {
    keys: DashMap<String, PendingKey>,
    unmatched: DashMap<String, Vec<MinuteCounts>>,
}

impl UsageRecorder {
    /// Counts a verification of a known key. Allocation-free for a key already
    /// pending in the same minute from a known IP.
    pub fn key(
        &self,
        key_id: &str,
        workspace_id: &str,
        outcome: Outcome,
        at_micros: i64,
        ip: Option<IpAddr>,
    ) {
        let mut pending = match self.keys.get_mut(key_id) {
            Some(pending) => pending,
            None => self
                .keys
                .entry(key_id.to_owned())
                .or_insert_with(|| PendingKey {
                    workspace_id: workspace_id.to_owned(),
                    ..PendingKey::default()
                }),
        };
        count_into(&mut pending.minutes, outcome, at_micros, 1);
        if let Some(ip) = ip {
            see_ip(
                &mut pending.ips,
                SeenIp {
                    ip,
                    first_seen: at_micros,
                    last_seen: at_micros,
                    count: 1,
                },
            );
        }
    }

    /// Counts a verification that matched no key of the caller's workspace.
    pub fn unmatched(&self, workspace_id: &str, outcome: Outcome, at_micros: i64) {
        let mut minutes = match self.unmatched.get_mut(workspace_id) {
            Some(minutes) => minutes,
            None => self.unmatched.entry(workspace_id.to_owned()).or_default(),
        };
        count_into(&mut minutes, outcome, at_micros, 1);
    }

    /// Takes everything counted so far.
    pub fn take(&self) -> PendingUsage {
        let mut taken = PendingUsage::default();
        self.keys.retain(|id, pending| {
            taken.keys.push((id.clone(), std::mem::take(pending)));
            false
        });
        self.unmatched.retain(|id, minutes| {
            taken.unmatched.push((id.clone(), std::mem::take(minutes)));
            false
        });
        taken
    }

    /// Puts back what a failed flush took, merged with what was counted since.
    /// Returns how many minute buckets were dropped to stay within
    /// [`PENDING_MINUTES_PER_KEY`].
    pub fn put_back(&self, usage: PendingUsage) -> usize {
        let mut dropped = 0;
        for (key_id, back) in usage.keys {
            let mut pending = self.keys.entry(key_id).or_insert_with(|| PendingKey {
                workspace_id: back.workspace_id.clone(),
                ..PendingKey::default()
            });
            for minute in back.minutes {
                merge_minute(&mut pending.minutes, minute);
            }
            dropped += keep_newest(&mut pending.minutes);
            for ip in back.ips {
                see_ip(&mut pending.ips, ip);
            }
        }
        for (workspace_id, back) in usage.unmatched {
            let mut minutes = self.unmatched.entry(workspace_id).or_default();
            for minute in back {
                merge_minute(&mut minutes, minute);
            }
            dropped += keep_newest(&mut minutes);
        }
        dropped
    }
}

/// Drops the oldest minutes beyond [`PENDING_MINUTES_PER_KEY`]; returns how many.
fn keep_newest(minutes: &mut Vec<MinuteCounts>) -> usize {
    let excess = minutes.len().saturating_sub(PENDING_MINUTES_PER_KEY);
    minutes.drain(..excess);
    excess
}

fn count_into(minutes: &mut Vec<MinuteCounts>, outcome: Outcome, at_micros: i64, count: u64) {
    let minute = at_micros.div_euclid(MINUTE_MICROS) * MINUTE_MICROS;
    let mut counts = OutcomeCounts::default();
    counts.add(outcome, count);
    merge_minute(minutes, MinuteCounts { minute, counts });
}

/// Adds `counts` to its minute, keeping the list in time order. The newest
/// minute is the usual one, so the search starts from the end.
fn merge_minute(minutes: &mut Vec<MinuteCounts>, counts: MinuteCounts) {
    match minutes
        .iter()
        .rposition(|existing| existing.minute <= counts.minute)
    {
        Some(at) if minutes[at].minute == counts.minute => {
            minutes[at].counts.add_all(&counts.counts)
        }
        Some(at) => minutes.insert(at + 1, counts),
        None => minutes.insert(0, counts),
    }
}

/// Merges one sighting into the bounded list; when full, the least recently
/// seen IP makes room.
fn see_ip(ips: &mut Vec<SeenIp>, seen: SeenIp) {
    if let Some(known) = ips.iter_mut().find(|known| known.ip == seen.ip) {
        known.first_seen = known.first_seen.min(seen.first_seen);
        known.last_seen = known.last_seen.max(seen.last_seen);
        known.count += seen.count;
        return;
    }
    if ips.len() < IPS_PER_KEY {
        ips.push(seen);
        return;
    }
    if let Some(oldest) = ips.iter_mut().min_by_key(|known| known.last_seen)
        && oldest.last_seen <= seen.last_seen
    {
        *oldest = seen;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = MINUTE_MICROS;

    #[test]
    fn counts_by_minute_and_outcome_in_time_order() {
        let recorder = UsageRecorder::default();
        recorder.key("k1", "w1", Outcome::Valid, 5 * MINUTE + 1, None);
        recorder.key("k1", "w1", Outcome::Valid, 5 * MINUTE + 59_000_000, None);
        recorder.key("k1", "w1", Outcome::Revoked, 6 * MINUTE, None);
        // A late arrival (an earlier minute) lands before, not after.
        recorder.key("k1", "w1", Outcome::Valid, 4 * MINUTE, None);
        let taken = recorder.take();
        let (id, key) = &taken.keys[0];
        assert_eq!(id, "k1");
        assert_eq!(key.workspace_id, "w1");
        let minutes: Vec<(i64, u64, u64)> = key
            .minutes
            .iter()
            .map(|m| {
                (
                    m.minute / MINUTE,
                    m.counts.get(Outcome::Valid),
                    m.counts.get(Outcome::Revoked),
                )
            })
            .collect();
        assert_eq!(minutes, [(4, 1, 0), (5, 2, 0), (6, 0, 1)]);
        assert!(recorder.take().is_empty(), "take leaves nothing behind");
    }

    #[test]
    fn a_flood_of_ips_stays_bounded_and_keeps_the_latest() {
        let recorder = UsageRecorder::default();
        for n in 0..10_000u32 {
            let ip = IpAddr::from(n.to_be_bytes());
            recorder.key("k1", "w1", Outcome::Valid, i64::from(n), Some(ip));
        }
        let taken = recorder.take();
        let ips = &taken.keys[0].1.ips;
        assert_eq!(ips.len(), IPS_PER_KEY);
        let oldest = ips.iter().map(|ip| ip.last_seen).min().unwrap();
        assert_eq!(oldest, 10_000 - IPS_PER_KEY as i64);
    }

    #[test]
    fn an_outage_keeps_the_newest_minutes_only() {
        let recorder = UsageRecorder::default();
        for minute in 0..PENDING_MINUTES_PER_KEY as i64 + 30 {
            recorder.key("k1", "w1", Outcome::Valid, minute * MINUTE, None);
            let failed = recorder.take();
            recorder.put_back(failed);
        }
        let minutes = recorder.take().keys.remove(0).1.minutes;
        assert_eq!(minutes.len(), PENDING_MINUTES_PER_KEY);
        assert_eq!(minutes[0].minute, 30 * MINUTE);
    }

    #[test]
    fn a_known_ip_adds_up() {
        let recorder = UsageRecorder::default();
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        recorder.key("k1", "w1", Outcome::Valid, 10, Some(ip));
        recorder.key("k1", "w1", Outcome::Expired, 30, Some(ip));
        let ips = recorder.take().keys.remove(0).1.ips;
        assert_eq!(
            ips,
            [SeenIp {
                ip,
                first_seen: 10,
                last_seen: 30,
                count: 2
            }]
        );
    }

    #[test]
    fn what_is_put_back_merges_with_what_came_since() {
        let recorder = UsageRecorder::default();
        recorder.key("k1", "w1", Outcome::Valid, MINUTE, None);
        recorder.unmatched("w1", Outcome::NotFound, MINUTE);
        let failed = recorder.take();
        recorder.key("k1", "w1", Outcome::Valid, MINUTE + 1, None);
        recorder.unmatched("w1", Outcome::NotFound, 2 * MINUTE);
        assert_eq!(recorder.put_back(failed), 0);
        let taken = recorder.take();
        assert_eq!(taken.keys[0].1.minutes[0].counts.get(Outcome::Valid), 2);
        let unmatched = &taken.unmatched[0].1;
        assert_eq!(unmatched.len(), 2);
        assert_eq!(unmatched[0].counts.get(Outcome::NotFound), 1);
    }
}
