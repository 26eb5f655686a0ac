//! Settings → Usage: the workspace's verifications over the URL's range
//! (`?range=7d`) by outcome, the busiest keys, and the refused keys people
//! still present (revoked and expired first: "someone still uses the old
//! key"). Admins see every key and the unknown-key traffic; developers their
//! own keys; viewers are refused by the server function.

use super::layout::Refusal;
use super::time::{exact, relative};
use super::usage_chart::{RangeSwitch, UsageChart, UsageTotals, grouped};
use crate::usage::api::load_workspace_usage;
use crate::usage::{KeyVolume, Outcome, UsageRange, WorkspaceUsage};
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn UsagePage() -> impl IntoView {
    let query = use_query_map();
    let usage = Resource::new(move || query.with(|q| q.get("range")), load_workspace_usage);
    view! {
        <Title text="Usage" />
        <Suspense fallback=|| view! { <p class="muted">"Loading usage…"</p> }>
            {move || Suspend::new(async move {
                match usage.await {
                    Ok(usage) => view! { <WorkspaceUsageView usage /> }.into_any(),
                    Err(error) => view! {
                        <div class="page-header"><div><h1>"Usage"</h1></div></div>
                        <Refusal error />
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn WorkspaceUsageView(usage: WorkspaceUsage) -> impl IntoView {
    let WorkspaceUsage {
        range,
        series,
        top_keys,
        refused_keys,
        only_own_keys,
        now,
    } = usage;
    let totals = series.totals();
    let unknown = totals.get(Outcome::NotFound) + totals.get(Outcome::Malformed);
    let quiet = totals.total() == 0;
    let chart = if quiet {
        view! {
            <div class="usage-empty" data-testid="usage-empty">
                <p class="strong">{format!("No verifications in the last {}.", range.label())}</p>
                <p class="muted">
                    "When your API servers verify keys through "
                    <code>"/v1/keys/verify"</code>
                    " or the gateway check, their traffic appears here moments later."
                </p>
            </div>
        }
        .into_any()
    } else {
        view! {
            <div class="usage-body">
                <UsageChart series range />
                <UsageTotals totals />
            </div>
        }
        .into_any()
    };
    view! {
        <div class="page-header">
            <div>
                <h1>"Usage"</h1>
                <p class="muted">
                    {if only_own_keys {
                        "How often your API servers verified your keys, and what they answered."
                    } else {
                        "How often your API servers verified this workspace's keys, and what they answered."
                    }}
                </p>
            </div>
            <RangeSwitch current=range />
        </div>
        {only_own_keys.then(|| view! {
            <p class="alert" role="note" data-testid="only-own-keys">
                "Showing your own keys. Admins see every key of the workspace and the attempts with unknown keys."
            </p>
        })}
        <section class="card flush section usage-card" aria-labelledby="usage-heading">
            <div class="usage-head">
                <h2 id="usage-heading" class="card-title">"Verifications"</h2>
            </div>
            {chart}
        </section>
        {(!quiet).then(|| view! {
            <TopKeys keys=top_keys now />
            <RefusedKeys keys=refused_keys unknown now range />
        })}
    }
}

#[component]
fn TopKeys(keys: Vec<KeyVolume>, now: DateTime<Utc>) -> impl IntoView {
    let body = if keys.is_empty() {
        view! {
            <p class="muted empty-note">"None of the keys you can see was verified in this range; the traffic above is from unknown keys."</p>
        }
        .into_any()
    } else {
        view! {
            <div class="table-scroll">
                <table class="table inset usage-keys-table" aria-labelledby="top-keys-heading">
                    <thead>
                        <tr>
                            <th scope="col">"Key"</th>
                            <th scope="col" class="num">"Verifications"</th>
                            <th scope="col" class="num">"Refused"</th>
                            <th scope="col">"Last seen"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {keys.into_iter().map(|key| {
                            let refused = key.counts.refused();
                            view! {
                                <tr data-testid="top-key-row">
                                    <td><KeyName key=key.clone() /></td>
                                    <td class="num strong">{grouped(key.counts.total())}</td>
                                    <td class="num" class:refused-count={refused > 0}>{grouped(refused)}</td>
                                    <td class="nowrap"><LastSeen at=key.last_seen now /></td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        }
        .into_any()
    };
    view! {
        <section class="card flush section" aria-labelledby="top-keys-heading" data-testid="top-keys">
            <div class="usage-head">
                <h2 id="top-keys-heading" class="card-title">"Top keys"</h2>
                <span class="muted small">"Most verifications first"</span>
            </div>
            {body}
        </section>
    }
}

/// The keys refused in the range though still presented, and the count of
/// verifications with unknown or malformed keys (admins only see those).
#[component]
fn RefusedKeys(
    keys: Vec<KeyVolume>,
    unknown: u64,
    now: DateTime<Utc>,
    range: UsageRange,
) -> impl IntoView {
    let body = if keys.is_empty() {
        view! {
            <p class="muted empty-note" data-testid="no-refused-keys">
                {format!("No key was refused in the last {}. ", range.label())}
                "A revoked or expired key that is still presented shows here: the sign that something still uses an old key."
            </p>
        }
        .into_any()
    } else {
        view! {
            <div class="table-scroll">
                <table class="table inset usage-keys-table" aria-labelledby="refused-heading">
                    <thead>
                        <tr>
                            <th scope="col">"Key"</th>
                            <th scope="col">"Status"</th>
                            <th scope="col" class="num">"Refused"</th>
                            <th scope="col">"Why"</th>
                            <th scope="col">"Last seen"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {keys.into_iter().map(|key| {
                            let why = key
                                .counts
                                .nonzero()
                                .filter(|(outcome, _)| outcome.is_refused())
                                .map(|(outcome, count)| format!("{} {}", grouped(count), outcome.label().to_lowercase()))
                                .collect::<Vec<_>>()
                                .join(", ");
                            view! {
                                <tr data-testid="refused-key-row">
                                    <td><KeyName key=key.clone() /></td>
                                    <td><span class=format!("badge {}", key.status.as_str())>{key.status.label()}</span></td>
                                    <td class="num strong refused-count">{grouped(key.counts.refused())}</td>
                                    <td class="small">{why}</td>
                                    <td class="nowrap"><LastSeen at=key.last_seen now /></td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        }
        .into_any()
    };
    view! {
        <section class="card flush section" aria-labelledby="refused-heading" data-testid="refused-keys">
            <div class="usage-head">
                <h2 id="refused-heading" class="card-title">"Refused verifications"</h2>
            </div>
            <p class="muted small usage-lead">
                "Keys your API servers still present although they no longer work. After a rotation, a revoked key here means some client was not updated."
            </p>
            {body}
            {(unknown > 0).then(|| view! {
                <p class="small table-note" data-testid="unknown-keys">
                    <span class="strong">{grouped(unknown)}</span>
                    {if unknown == 1 { " verification" } else { " verifications" }}
                    " with unknown or malformed keys. A burst of these can be someone guessing keys."
                </p>
            })}
        </section>
    }
}

/// The key's name linking to its page, its environment, and its masked form.
#[component]
fn KeyName(key: KeyVolume) -> impl IntoView {
    view! {
        <a class="strong" href=format!("/settings/api-keys/{}", key.key_id)>{key.name}</a>
        " "
        <span class=format!("badge {}", key.environment.as_str())>{key.environment.label()}</span>
        <div class="muted small"><code class="mono nowrap">{key.masked}</code></div>
    }
}

#[component]
fn LastSeen(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> impl IntoView {
    match at {
        None => view! { <span class="muted">"—"</span> }.into_any(),
        Some(at) => view! { <span title=exact(at)>{relative(at, now)}</span> }.into_any(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Environment, KeyStatus};
    use crate::usage::{Granularity, OutcomeCounts, UsageBucket, UsageSeries};

    fn now() -> DateTime<Utc> {
        "2025-05-13T14:20:00Z".parse().unwrap()
    }

    fn volume(name: &str, status: KeyStatus, counts: &[(Outcome, u64)]) -> KeyVolume {
        let mut all = OutcomeCounts::default();
        for (outcome, count) in counts {
            all.add(*outcome, *count);
        }
        KeyVolume {
            key_id: format!("key_{name}"),
            name: name.into(),
            masked: "kw_live_3fJ9…a1b2".into(),
            environment: Environment::Live,
            status,
            counts: all,
            last_seen: Some(now()),
        }
    }

    fn usage(buckets: &[(Outcome, u64)]) -> WorkspaceUsage {
        let mut counts = OutcomeCounts::default();
        for (outcome, count) in buckets {
            counts.add(*outcome, *count);
        }
        WorkspaceUsage {
            range: UsageRange::Week,
            series: UsageSeries {
                granularity: Granularity::Hour,
                buckets: vec![UsageBucket {
                    start: Granularity::Hour.bucket_start(now()),
                    counts,
                }],
            },
            top_keys: vec![],
            refused_keys: vec![],
            only_own_keys: false,
            now: now(),
        }
    }

    fn render(usage: WorkspaceUsage) -> String {
        Owner::new().with(|| view! { <WorkspaceUsageView usage /> }.to_html())
    }

    #[test]
    fn a_quiet_workspace_says_what_will_appear() {
        let html = render(usage(&[]));
        assert!(
            html.contains("No verifications in the last 7 days."),
            "{html}"
        );
        assert!(!html.contains("top-keys"));
        assert!(!html.contains("only-own-keys"));
    }

    #[test]
    fn top_keys_refused_keys_and_unknown_keys_are_listed() {
        let mut shown = usage(&[
            (Outcome::Valid, 7),
            (Outcome::Revoked, 3),
            (Outcome::NotFound, 2),
        ]);
        shown.top_keys = vec![volume(
            "Usage demo",
            KeyStatus::Active,
            &[(Outcome::Valid, 7)],
        )];
        shown.refused_keys = vec![volume(
            "Old billing key",
            KeyStatus::Revoked,
            &[(Outcome::Revoked, 3)],
        )];
        shown.only_own_keys = true;
        let html = render(shown);
        assert!(
            html.contains("href=\"/settings/api-keys/key_Usage demo\""),
            "{html}"
        );
        assert!(html.contains("data-testid=\"refused-key-row\""));
        assert!(html.contains(">3 revoked</td>"), "{html}");
        assert!(html.contains("data-testid=\"unknown-keys\""));
        assert!(html.contains("Showing your own keys."));
        assert!(html.contains("href=\"?range=7d\" aria-current=\"page\""));
    }

    #[test]
    fn no_refused_key_is_said_in_words() {
        let mut shown = usage(&[(Outcome::Valid, 1)]);
        shown.top_keys = vec![volume(
            "Usage demo",
            KeyStatus::Active,
            &[(Outcome::Valid, 1)],
        )];
        let html = render(shown);
        assert!(
            html.contains("No key was refused in the last 7 days."),
            "{html}"
        );
        assert!(!html.contains("unknown-keys"));
    }
}
