//! Usage charts, drawn on the server as SVG (no JavaScript, nothing in the wasm
//! bundle): stacked bars by outcome with a `<title>` tooltip each, the totals
//! as a legend, a visually hidden table with the same numbers, and the keys
//! list's 7-day sparkline. Colours come from CSS (`outcome-valid` …), so the
//! light and dark themes apply.

use crate::usage::{Granularity, Outcome, OutcomeCounts, UsageBucket, UsageRange, UsageSeries};
use leptos::prelude::*;

/// The chart's coordinate system: one column per bucket, `PLOT_HEIGHT` high.
/// The SVG stretches to its box (`preserveAspectRatio="none"`); text lives in
/// HTML around it, so it stays crisp at any width.
const COLUMN_WIDTH: f64 = 10.0;
const BAR_WIDTH: f64 = 8.0;
const PLOT_HEIGHT: f64 = 100.0;
/// A bucket with a few verifications next to a peak of thousands still shows.
const MIN_BAR_HEIGHT: f64 = 1.5;

/// One outcome's part of a bar.
#[derive(Clone, Debug, PartialEq)]
struct Segment {
    outcome: Outcome,
    y: f64,
    height: f64,
}

/// One bucket's bar: its column, its stacked segments (good traffic at the
/// bottom) and its tooltip.
#[derive(Clone, Debug, PartialEq)]
struct Bar {
    x: f64,
    segments: Vec<Segment>,
    title: String,
}

/// The bars of a series, scaled to its peak; buckets without verifications draw none.
fn bars(series: &UsageSeries) -> Vec<Bar> {
    let peak = series.peak();
    if peak == 0 {
        return Vec::new();
    }
    series
        .buckets
        .iter()
        .enumerate()
        .filter(|(_, bucket)| bucket.counts.total() > 0)
        .map(|(index, bucket)| {
            let total = bucket.counts.total();
            let height = (total as f64 / peak as f64 * PLOT_HEIGHT).max(MIN_BAR_HEIGHT);
            // Segments from cumulative counts, so that their heights add up to the bar's exactly.
            let top_of = |below: u64| PLOT_HEIGHT - below as f64 / total as f64 * height;
            let mut below = 0;
            let segments = bucket
                .counts
                .nonzero()
                .map(|(outcome, count)| {
                    let (bottom, top) = (top_of(below), top_of(below + count));
                    below += count;
                    Segment {
                        outcome,
                        y: top,
                        height: bottom - top,
                    }
                })
                .collect();
            Bar {
                x: index as f64 * COLUMN_WIDTH + (COLUMN_WIDTH - BAR_WIDTH) / 2.0,
                segments,
                title: bucket_title(bucket, series.granularity),
            }
        })
        .collect()
}

/// "12 May, 14:00–15:00 UTC: 120 valid, 3 revoked".
fn bucket_title(bucket: &UsageBucket, granularity: Granularity) -> String {
    format!(
        "{}: {}",
        period(bucket, granularity),
        counts_text(&bucket.counts)
    )
}

/// The bucket's time span as a person reads it, in UTC.
fn period(bucket: &UsageBucket, granularity: Granularity) -> String {
    let start = bucket.start;
    match granularity {
        Granularity::Day => format!("{} UTC", start.format("%a %-d %b")),
        Granularity::Hour | Granularity::Minute => format!(
            "{}–{} UTC",
            start.format("%-d %b, %H:%M"),
            (start + granularity.width()).format("%H:%M")
        ),
    }
}

/// "120 valid, 3 revoked", or "no verifications".
fn counts_text(counts: &OutcomeCounts) -> String {
    let parts: Vec<String> = counts
        .nonzero()
        .map(|(outcome, count)| format!("{} {}", grouped(count), outcome_noun(outcome)))
        .collect();
    if parts.is_empty() {
        "no verifications".into()
    } else {
        parts.join(", ")
    }
}

/// An outcome after a number: "3 revoked", "2 unknown".
fn outcome_noun(outcome: Outcome) -> String {
    match outcome {
        Outcome::NotFound => "unknown".into(),
        outcome => outcome.label().to_lowercase(),
    }
}

/// 1204 → "1,204" (screen readers read the comma form as one number).
pub fn grouped(count: u64) -> String {
    let digits = count.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// "1 verification", "1,204 verifications".
pub fn verifications(count: u64) -> String {
    let plural = if count == 1 { "" } else { "s" };
    format!("{} verification{plural}", grouped(count))
}

/// The chart's axis labels: the first bucket's start and the last one's.
fn axis_label(bucket: Option<&UsageBucket>, granularity: Granularity) -> String {
    bucket.map_or_else(String::new, |bucket| match granularity {
        Granularity::Day => bucket.start.format("%-d %b").to_string(),
        Granularity::Hour | Granularity::Minute => bucket.start.format("%-d %b %H:%M").to_string(),
    })
}

fn per_bucket(granularity: Granularity) -> &'static str {
    match granularity {
        Granularity::Minute => "minute",
        Granularity::Hour => "hour",
        Granularity::Day => "day",
    }
}

/// Stacked bars of a series by outcome, with its peak and time labels and a
/// visually hidden table of the buckets with verifications.
#[component]
pub fn UsageChart(series: UsageSeries, range: UsageRange) -> impl IntoView {
    let granularity = series.granularity;
    let columns = series.buckets.len().max(1);
    let width = columns as f64 * COLUMN_WIDTH;
    let peak = series.peak();
    let total = series.totals().total();
    let summary = format!(
        "Verifications per {} over the last {}: {} in all, at most {} in one {}.",
        per_bucket(granularity),
        range.label(),
        grouped(total),
        grouped(peak),
        per_bucket(granularity),
    );
    let first = axis_label(series.buckets.first(), granularity);
    let last = axis_label(series.buckets.last(), granularity);
    let drawn = bars(&series);
    view! {
        <figure class="usage-chart" data-testid="usage-chart" data-total=total>
            <div class="chart-plot">
                <div class="chart-y" aria-hidden="true">
                    <span>{grouped(peak)}</span>
                    <span>"0"</span>
                </div>
                <svg
                    class="chart-svg"
                    viewBox=format!("0 0 {width} {PLOT_HEIGHT}")
                    preserveAspectRatio="none"
                    role="img"
                    aria-label=summary
                >
                    <line class="chart-grid" x1="0" x2=width y1="0.5" y2="0.5" />
                    <line class="chart-grid" x1="0" x2=width y1={PLOT_HEIGHT / 2.0} y2={PLOT_HEIGHT / 2.0} />
                    <line class="chart-baseline" x1="0" x2=width y1={PLOT_HEIGHT - 0.5} y2={PLOT_HEIGHT - 0.5} />
                    {drawn
                        .into_iter()
                        .map(|bar| {
                            view! {
                                <g class="chart-bar" data-testid="chart-bar">
                                    <title>{bar.title}</title>
                                    // The whole column answers the pointer, so short bars get a tooltip too.
                                    <rect class="chart-hit" x={bar.x - 1.0} y="0" width=COLUMN_WIDTH height=PLOT_HEIGHT />
                                    {bar
                                        .segments
                                        .into_iter()
                                        .map(|segment| {
                                            view! {
                                                <rect
                                                    class=format!("outcome outcome-{}", segment.outcome.as_str())
                                                    x=bar.x
                                                    y=segment.y
                                                    width=BAR_WIDTH
                                                    height=segment.height
                                                />
                                            }
                                        })
                                        .collect_view()}
                                </g>
                            }
                        })
                        .collect_view()}
                </svg>
                <div class="chart-x" aria-hidden="true">
                    <span>{first}</span>
                    <span>{format!("{last} UTC")}</span>
                </div>
            </div>
            <SeriesTable series />
        </figure>
    }
}

/// The chart's numbers for screen readers: one row per bucket with
/// verifications (empty buckets are left out, and the caption says so), one
/// column per outcome that occurs in the range.
#[component]
fn SeriesTable(series: UsageSeries) -> impl IntoView {
    let totals = series.totals();
    let outcomes: Vec<Outcome> = totals.nonzero().map(|(outcome, _)| outcome).collect();
    let header = outcomes.clone();
    let granularity = series.granularity;
    view! {
        // Hidden by a wrapper: a table will not shrink to the 1px the class gives it.
        <div class="visually-hidden">
        <table data-testid="usage-table">
            <caption>{format!("Verifications per {}, periods without any left out", per_bucket(granularity))}</caption>
            <thead>
                <tr>
                    <th scope="col">"Period"</th>
                    {header.into_iter().map(|outcome| view! { <th scope="col">{outcome.label()}</th> }).collect_view()}
                    <th scope="col">"Total"</th>
                </tr>
            </thead>
            <tbody>
                {series
                    .buckets
                    .iter()
                    .filter(|bucket| bucket.counts.total() > 0)
                    .map(|bucket| {
                        view! {
                            <tr>
                                <th scope="row">{period(bucket, granularity)}</th>
                                {outcomes.iter().map(|outcome| view! { <td>{grouped(bucket.counts.get(*outcome))}</td> }).collect_view()}
                                <td>{grouped(bucket.counts.total())}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
        </div>
    }
}

/// The totals beside a chart: the sum, then a legend of the outcomes with
/// their counts (valid always, the others when they occurred).
#[component]
pub fn UsageTotals(totals: OutcomeCounts) -> impl IntoView {
    let total = totals.total();
    let refused = totals.refused();
    let rows: Vec<(Outcome, u64)> = Outcome::ALL
        .into_iter()
        .map(|outcome| (outcome, totals.get(outcome)))
        .filter(|(outcome, count)| *count > 0 || *outcome == Outcome::Valid)
        .collect();
    view! {
        <div class="usage-totals">
            <p class="usage-total">
                <span class="usage-total-number" data-testid="usage-total">{grouped(total)}</span>
                <span class="muted">{if total == 1 { " verification" } else { " verifications" }}</span>
            </p>
            {(refused > 0).then(|| view! {
                <p class="small refused-share">{format!("{} refused ({})", grouped(refused), percent(refused, total))}</p>
            })}
            <ul class="legend" aria-label="By outcome">
                {rows.into_iter().map(|(outcome, count)| view! {
                    <li data-outcome=outcome.as_str()>
                        <span class=format!("swatch outcome-{}", outcome.as_str()) aria-hidden="true"></span>
                        <span class="legend-label">{outcome.label()}</span>
                        <span class="legend-count">{grouped(count)}</span>
                    </li>
                }).collect_view()}
            </ul>
        </div>
    }
}

/// "2.4 %", "< 0.1 %".
fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0 %".into();
    }
    let share = part as f64 * 100.0 / whole as f64;
    if share > 0.0 && share < 0.1 {
        "< 0.1 %".into()
    } else if share >= 10.0 {
        format!("{share:.0} %")
    } else {
        format!("{share:.1} %")
    }
}

/// 24 hours / 7 days / 30 days as plain links (`?range=7d`), the current one
/// marked for assistive technology and by style.
#[component]
pub fn RangeSwitch(current: UsageRange) -> impl IntoView {
    view! {
        <nav class="range-switch" aria-label="Time range">
            {UsageRange::ALL.into_iter().map(|range| {
                let here = range == current;
                view! {
                    <a
                        href=format!("?range={}", range.as_str())
                        aria-current=here.then_some("page")
                        data-range=range.as_str()
                    >
                        {range.label()}
                    </a>
                }
            }).collect_view()}
        </nav>
    }
}

const SPARK_COLUMN: f64 = 8.0;
const SPARK_BAR: f64 = 6.0;
const SPARK_HEIGHT: f64 = 20.0;

/// (x, y, height) of each non-zero day's bar, scaled to the busiest day.
fn spark_bars(daily: &[u64]) -> Vec<(f64, f64, f64)> {
    let peak = daily.iter().copied().max().unwrap_or(0);
    if peak == 0 {
        return Vec::new();
    }
    daily
        .iter()
        .enumerate()
        .filter(|(_, count)| **count > 0)
        .map(|(index, count)| {
            let height = (*count as f64 / peak as f64 * (SPARK_HEIGHT - 1.0)).max(2.0);
            (index as f64 * SPARK_COLUMN, SPARK_HEIGHT - height, height)
        })
        .collect()
}

/// The keys list's glance at a key's last 7 days: one bar per day, oldest first.
#[component]
pub fn Sparkline(daily: Vec<u64>) -> impl IntoView {
    let total: u64 = daily.iter().sum();
    let label = format!("{} in the last 7 days", verifications(total));
    let title = label.clone();
    let width = daily.len().max(1) as f64 * SPARK_COLUMN - (SPARK_COLUMN - SPARK_BAR);
    view! {
        <svg
            class="sparkline"
            viewBox=format!("0 0 {width} {SPARK_HEIGHT}")
            role="img"
            aria-label=label
            data-testid="sparkline"
            data-total=total
        >
            <title>{title}</title>
            <line class="sparkline-base" x1="0" x2=width y1={SPARK_HEIGHT - 0.5} y2={SPARK_HEIGHT - 0.5} />
            {spark_bars(&daily).into_iter().map(|(x, y, height)| view! {
                <rect x=x y=y width=SPARK_BAR height=height rx="1" />
            }).collect_view()}
        </svg>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration, Utc};

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// Hourly buckets from 12:00, with the given (outcome, count) lists.
    fn series(buckets: &[&[(Outcome, u64)]]) -> UsageSeries {
        UsageSeries {
            granularity: Granularity::Hour,
            buckets: buckets
                .iter()
                .enumerate()
                .map(|(index, counts)| {
                    let mut all = OutcomeCounts::default();
                    for (outcome, count) in *counts {
                        all.add(*outcome, *count);
                    }
                    UsageBucket {
                        start: at("2025-05-12T12:00:00Z") + Duration::hours(index as i64),
                        counts: all,
                    }
                })
                .collect(),
        }
    }

    fn render(view: impl FnOnce() -> AnyView) -> String {
        Owner::new().with(|| view().to_html())
    }

    #[test]
    fn an_empty_series_draws_no_bars() {
        let empty = series(&[&[], &[], &[]]);
        assert!(bars(&empty).is_empty());
        let html =
            render(|| view! { <UsageChart series=empty range=UsageRange::Day /> }.into_any());
        assert!(!html.contains("chart-bar"), "{html}");
        assert!(!html.contains("<tr><th scope=\"row\""), "{html}");
    }

    #[test]
    fn segments_stack_in_outcome_order_and_add_up_to_the_bar() {
        let shown = series(&[
            &[(Outcome::Revoked, 3), (Outcome::Valid, 117)],
            &[],
            &[(Outcome::Valid, 60)],
            &[
                (Outcome::Valid, 1),
                (Outcome::RateLimited, 1),
                (Outcome::NotFound, 1),
            ],
        ]);
        let drawn = bars(&shown);
        // The empty bucket draws nothing; the others keep their column.
        assert_eq!(drawn.len(), 3);
        assert_eq!(drawn[1].x, 2.0 * COLUMN_WIDTH + 1.0);

        for (bar, total) in drawn.iter().zip([120.0, 60.0, 3.0]) {
            let height: f64 = bar.segments.iter().map(|s| s.height).sum();
            let expected = (total / 120.0 * PLOT_HEIGHT).max(MIN_BAR_HEIGHT);
            assert!((height - expected).abs() < 1e-9, "{height} vs {expected}");
            // Touching segments from the baseline up.
            let mut bottom = PLOT_HEIGHT;
            for segment in &bar.segments {
                assert!((segment.y + segment.height - bottom).abs() < 1e-9);
                bottom = segment.y;
            }
        }
        // The peak fills the plot; valid traffic is at the bottom.
        assert_eq!(drawn[0].segments[0].outcome, Outcome::Valid);
        assert!((drawn[0].segments[0].height - 117.0 / 120.0 * PLOT_HEIGHT).abs() < 1e-9);
        assert_eq!(drawn[0].segments[1].outcome, Outcome::Revoked);
        assert!(drawn[0].segments[1].y.abs() < 1e-9);
        let order: Vec<Outcome> = drawn[2].segments.iter().map(|s| s.outcome).collect();
        assert_eq!(
            order,
            [Outcome::Valid, Outcome::RateLimited, Outcome::NotFound]
        );
    }

    #[test]
    fn a_tiny_bucket_beside_a_big_one_still_shows() {
        let drawn = bars(&series(&[
            &[(Outcome::Valid, 100_000)],
            &[(Outcome::Revoked, 1)],
        ]));
        let height: f64 = drawn[1].segments.iter().map(|s| s.height).sum();
        assert!((height - MIN_BAR_HEIGHT).abs() < 1e-9);
    }

    #[test]
    fn tooltips_name_the_period_and_the_counts() {
        let shown = series(&[&[], &[], &[(Outcome::Valid, 120), (Outcome::Revoked, 3)]]);
        assert_eq!(
            bars(&shown)[0].title,
            "12 May, 14:00–15:00 UTC: 120 valid, 3 revoked"
        );
        let late = UsageBucket {
            start: at("2025-05-12T23:00:00Z"),
            counts: OutcomeCounts::default(),
        };
        assert_eq!(
            bucket_title(&late, Granularity::Hour),
            "12 May, 23:00–00:00 UTC: no verifications"
        );
        let mut counts = OutcomeCounts::default();
        counts.add(Outcome::Valid, 1204);
        counts.add(Outcome::NotFound, 2);
        let day = UsageBucket {
            start: at("2025-05-12T00:00:00Z"),
            counts,
        };
        assert_eq!(
            bucket_title(&day, Granularity::Day),
            "Mon 12 May UTC: 1,204 valid, 2 unknown"
        );
    }

    #[test]
    fn the_rendered_chart_carries_titles_totals_and_the_hidden_table() {
        let shown = series(&[
            &[(Outcome::Valid, 5)],
            &[],
            &[(Outcome::Valid, 2), (Outcome::Expired, 1)],
        ]);
        let html =
            render(|| view! { <UsageChart series=shown range=UsageRange::Day /> }.into_any());
        assert!(html.contains("data-total=\"8\""), "{html}");
        assert_eq!(html.matches("data-testid=\"chart-bar\"").count(), 2);
        assert!(
            html.contains("<title>12 May, 14:00–15:00 UTC: 2 valid, 1 expired</title>"),
            "{html}"
        );
        assert!(html.contains("class=\"outcome outcome-expired\""));
        // Two rows (the empty hour is left out), columns Valid and Expired.
        assert_eq!(html.matches("<th scope=\"row\">").count(), 2);
        assert!(html.contains("<th scope=\"col\">Expired</th>"));
        assert!(!html.contains("<th scope=\"col\">Revoked</th>"));
        // Peak and time labels.
        assert!(html.contains("<span>5</span>"), "{html}");
        assert!(html.contains("12 May 12:00"));
        assert!(html.contains("12 May 14:00 UTC"));
    }

    #[test]
    fn totals_list_valid_and_what_occurred() {
        let mut totals = OutcomeCounts::default();
        totals.add(Outcome::Valid, 1200);
        totals.add(Outcome::Revoked, 34);
        let html = render(|| view! { <UsageTotals totals /> }.into_any());
        assert!(html.contains(">1,234</span>"), "{html}");
        assert!(html.contains("34 refused (2.8 %)"), "{html}");
        assert!(html.contains("data-outcome=\"valid\""));
        assert!(html.contains("data-outcome=\"revoked\""));
        assert!(!html.contains("data-outcome=\"expired\""));
    }

    #[test]
    fn the_range_switch_marks_the_current_range() {
        let html = render(|| view! { <RangeSwitch current=UsageRange::Week /> }.into_any());
        assert!(
            html.contains("href=\"?range=7d\" aria-current=\"page\""),
            "{html}"
        );
        assert_eq!(html.matches("aria-current").count(), 1);
    }

    #[test]
    fn sparklines_scale_to_the_busiest_day_and_say_the_total() {
        let daily = vec![0, 4, 0, 8, 2, 0, 1190];
        let drawn = spark_bars(&daily);
        assert_eq!(drawn.len(), 4);
        assert!((drawn[3].2 - (SPARK_HEIGHT - 1.0)).abs() < 1e-9);
        assert!(spark_bars(&[0; 7]).is_empty());
        let html = render(|| view! { <Sparkline daily /> }.into_any());
        assert!(
            html.contains("aria-label=\"1,204 verifications in the last 7 days\""),
            "{html}"
        );
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1204), "1,204");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(verifications(1), "1 verification");
        assert_eq!(percent(1, 3), "33 %");
        assert_eq!(percent(1, 10_000), "< 0.1 %");
    }
}
