//! What the usage page shows of a usage series: a stacked chart of the chosen meter (the
//! largest groups apart, the rest as "Other"), a table of each group's totals, and the CSV of
//! every bucket — the same buckets, so the CSV's sums are the table. Pure.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::chart::{stacked_chart, Frame, Stack};
use super::usage_query::UsageQuestion;
use super::view::{meter_quantities, MeterQuantity};
use crate::aggregate::{Granularity, GroupBy, RollupTotals, SeriesBucket};
use crate::domain::Meter;
use crate::invoice::display_format as format;

/// Groups drawn in their own colour; the others share one.
const COLOURED: usize = 5;

/// One group's totals over the range.
pub(crate) struct GroupRow {
    pub name: String,
    pub quantities: Vec<MeterQuantity>,
    pub records: i64,
}

/// One legend entry: the chart's class for the series and its name.
pub(crate) struct LegendEntry {
    pub class: String,
    pub name: String,
}

/// The page's figures.
pub(crate) struct UsageFigures {
    pub chart: String,
    pub legend: Vec<LegendEntry>,
    pub rows: Vec<GroupRow>,
    pub total: GroupRow,
}

/// The group a bucket belongs to.
fn group_of(bucket: &SeriesBucket) -> &str {
    bucket.function.as_deref().or(bucket.region.as_deref()).unwrap_or("")
}

/// How a stored group value is shown (`""`: records sent without one).
pub(crate) fn group_name(value: &str, group: GroupBy) -> String {
    match (value, group) {
        ("", GroupBy::Function) => "(no function)".into(),
        ("", GroupBy::Region) => "(no region)".into(),
        (name, _) => name.into(),
    }
}

/// The chart, legend and table of `buckets` (a grouped series over `units`, in time order).
pub(crate) fn usage_figures(
    query: &UsageQuestion,
    tz: Tz,
    units: &[(DateTime<Utc>, DateTime<Utc>)],
    buckets: &[SeriesBucket],
) -> UsageFigures {
    let mut per_group: BTreeMap<&str, RollupTotals> = BTreeMap::new();
    for bucket in buckets {
        let entry = per_group.entry(group_of(bucket)).or_default();
        *entry = entry.checked_add(&bucket.totals).unwrap_or(*entry);
    }
    let mut ranked: Vec<(&str, RollupTotals)> = per_group.into_iter().collect();
    ranked.sort_by(|a, b| b.1.quantities.get(query.meter).cmp(&a.1.quantities.get(query.meter)).then(a.0.cmp(b.0)));
    let parts = ranked.len().min(COLOURED + 1);
    let series =
        |group: &str| ranked.iter().position(|(g, _)| *g == group).unwrap_or(COLOURED).min(parts.saturating_sub(1));
    let stacks: Vec<Stack> = units
        .iter()
        .map(|(start, end)| {
            let mut values = vec![Decimal::ZERO; parts];
            for b in buckets.iter().filter(|b| b.start == *start && b.end == *end) {
                let slot = &mut values[series(group_of(b))];
                *slot = slot.saturating_add(b.totals.quantities.get(query.meter));
            }
            let label = unit_label(*start, tz, query.granularity);
            let sum = values.iter().fold(Decimal::ZERO, |s, v| s.saturating_add(*v));
            Stack { title: format!("{label}: {}", format::quantity(sum)), label, parts: values }
        })
        .collect();
    let every = match query.granularity {
        Granularity::Hour => 24,
        Granularity::Day => 7,
        Granularity::Month => units.len().div_ceil(6),
    };
    let description =
        format!("{} by {} and {}", query.meter.display_name(), query.granularity.as_str(), query.group.as_str());
    let mut legend: Vec<LegendEntry> = ranked
        .iter()
        .take(COLOURED)
        .enumerate()
        .map(|(i, (g, _))| LegendEntry { class: format!("s{i}"), name: group_name(g, query.group) })
        .collect();
    if ranked.len() > COLOURED {
        legend.push(LegendEntry { class: format!("s{COLOURED}"), name: "Other".into() });
    }
    let total = ranked.iter().fold(RollupTotals::default(), |sum, (_, t)| sum.checked_add(t).unwrap_or(sum));
    UsageFigures {
        chart: stacked_chart(Frame::WIDE, &stacks, every, &description),
        legend,
        rows: ranked.iter().map(|(g, t)| row(group_name(g, query.group), t)).collect(),
        total: row("Total".into(), &total),
    }
}

fn row(name: String, totals: &RollupTotals) -> GroupRow {
    GroupRow { name, quantities: meter_quantities(&totals.quantities), records: totals.records }
}

/// A unit's axis label in the tenant's time zone.
fn unit_label(start: DateTime<Utc>, tz: Tz, granularity: Granularity) -> String {
    let local = start.with_timezone(&tz);
    match granularity {
        Granularity::Hour => local.format("%-d %b %H:%M").to_string(),
        Granularity::Day => local.format("%-d %b").to_string(),
        Granularity::Month => local.format("%b %Y").to_string(),
    }
}

/// The CSV of every bucket: local start and end (RFC 3339 with the tenant's offset), the
/// group, each meter's exact quantity, the record count.
pub(crate) fn usage_csv(query: &UsageQuestion, tz: Tz, buckets: &[SeriesBucket]) -> String {
    let mut csv = format!("start,end,{},", query.group.as_str());
    let meters: Vec<&str> = Meter::ALL.iter().map(|m| m.as_str()).collect();
    csv.push_str(&meters.join(","));
    csv.push_str(",records\r\n");
    for b in buckets {
        let (start, end) = (b.start.with_timezone(&tz).to_rfc3339(), b.end.with_timezone(&tz).to_rfc3339());
        let _ = write!(csv, "{start},{end},{}", csv_text(group_of(b)));
        for meter in Meter::ALL {
            let _ = write!(csv, ",{}", b.totals.quantities.get(meter).normalize());
        }
        let _ = write!(csv, ",{}\r\n", b.totals.records);
    }
    csv
}

/// A text field of RFC 4180, quoted; a leading `=`, `+`, `-`, `@`, tab or carriage return
/// gets a `'` first so a spreadsheet shows it rather than running it as a formula (OWASP
/// "CSV injection": function names are the customer's own text).
fn csv_text(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() };
    format!("\"{}\"", guarded.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::at;
    use crate::domain::Quantities;
    use chrono::NaiveDate;

    fn query(meter: Meter) -> UsageQuestion {
        UsageQuestion {
            first_day: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            last_day: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
            granularity: Granularity::Day,
            group: GroupBy::Function,
            meter,
            from: at("2026-11-01T00:00:00Z"),
            to: at("2026-11-03T00:00:00Z"),
        }
    }

    fn bucket(day: u32, function: &str, invocations: i64) -> SeriesBucket {
        let quantities = Quantities { invocations: Decimal::from(invocations), ..Quantities::default() };
        SeriesBucket {
            start: at(&format!("2026-11-0{day}T00:00:00Z")),
            end: at(&format!("2026-11-0{}T00:00:00Z", day + 1)),
            function: Some(function.into()),
            region: None,
            totals: RollupTotals { quantities, records: 2 },
        }
    }

    fn units() -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        vec![
            (at("2026-11-01T00:00:00Z"), at("2026-11-02T00:00:00Z")),
            (at("2026-11-02T00:00:00Z"), at("2026-11-03T00:00:00Z")),
        ]
    }

    #[test]
    fn the_table_ranks_groups_by_the_charted_meter_and_totals_them() {
        let buckets = [bucket(1, "api", 5), bucket(1, "", 7), bucket(2, "api", 10)];
        let figures = usage_figures(&query(Meter::Invocations), Tz::UTC, &units(), &buckets);
        let names: Vec<&str> = figures.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["api", "(no function)"]);
        assert_eq!(figures.rows[0].quantities[2].exact, "15", "invocations of api");
        assert_eq!((figures.total.quantities[2].exact.as_str(), figures.total.records), ("22", 6));
        assert_eq!(figures.legend.len(), 2);
        assert!(figures.chart.contains("<title>1 Nov: 12</title>"), "{}", figures.chart);
    }

    #[test]
    fn a_unit_without_usage_is_still_a_bar() {
        let figures = usage_figures(&query(Meter::Invocations), Tz::UTC, &units(), &[bucket(2, "api", 1)]);
        assert!(figures.chart.contains("<title>1 Nov: 0</title>"), "{}", figures.chart);
    }

    #[test]
    fn the_csv_has_one_line_per_bucket_with_exact_numbers_and_guarded_text() {
        let csv = usage_csv(&query(Meter::Invocations), Tz::UTC, &[bucket(1, "=cmd|\"x\"", 5)]);
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], "start,end,function,cpu_cycles,memory_gb_seconds,invocations,records");
        assert_eq!(lines[1], "2026-11-01T00:00:00+00:00,2026-11-02T00:00:00+00:00,\"'=cmd|\"\"x\"\"\",0,0,5,2");
        assert_eq!(lines.len(), 3, "a final line break");
    }
}
