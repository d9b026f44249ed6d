//! What `--verify` compares, computed the same way on both sides from the rows as the copy
//! reads them (pure: no SQL): per table a row count and an order-independent digest of every
//! row; per tenant the sums of its rollups; per invoice its total and, once finalized, a hash
//! of its immutable content. Then the differences, in words an operator can act on.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::tables::CopiedTable;
use super::value::{Value, Values};

/// The columns of an invoice that never change once it is finalized (the immutability
/// trigger's list): its hash must be the same on both sides.
const INVOICE_CONTENT: &[&str] = &[
    "tenant_id",
    "invoice_id",
    "number",
    "kind",
    "period_start",
    "period_end",
    "currency",
    "subtotal",
    "tax",
    "credits_applied",
    "total",
    "document",
    "issued_at",
];

/// At most this many differences are listed per table; the rest are counted.
const LISTED: usize = 20;

/// One table on one side.
#[derive(Debug, Default)]
pub(super) struct TableSummary {
    pub rows: u64,
    /// Σ of each row's hash (mod 2^128): the same multiset of rows gives the same digest in
    /// any order, and the engines order text keys differently.
    digest: u128,
    rollups: BTreeMap<String, RollupSums>,
    invoices: BTreeMap<(String, String), InvoiceFacts>,
}

/// A tenant's rollups summed.
#[derive(Debug, Default, PartialEq, Eq)]
struct RollupSums {
    cpu_cycles: Decimal,
    memory_gb_seconds: Decimal,
    invocations: Decimal,
    records: Decimal,
}

/// What is compared of one invoice.
#[derive(Debug, PartialEq, Eq)]
struct InvoiceFacts {
    number: String,
    total: Decimal,
    /// The hash of its immutable content, once it is no longer a draft.
    content: Option<String>,
}

impl TableSummary {
    /// Counts one row of `table`.
    pub(super) fn add(&mut self, table: &CopiedTable, row: &Values) {
        self.rows += 1;
        let hash = hash_values(row.iter());
        self.digest = self.digest.wrapping_add(u128::from_be_bytes(hash[..16].try_into().unwrap_or_default()));
        let column = |name: &str| &row[table.position(name)];
        match table.name {
            "usage_rollup" => {
                let sums = self.rollups.entry(column("tenant_id").text().to_owned()).or_default();
                sums.cpu_cycles = sums.cpu_cycles.saturating_add(column("cpu_cycles").decimal());
                sums.memory_gb_seconds = sums.memory_gb_seconds.saturating_add(column("memory_gb_seconds").decimal());
                sums.invocations = sums.invocations.saturating_add(column("invocations").decimal());
                sums.records = sums.records.saturating_add(column("records").decimal());
            }
            "invoice" => {
                let finalized = column("status").text() != "draft";
                let content =
                    finalized.then(|| hex::encode(&hash_values(INVOICE_CONTENT.iter().map(|c| column(c)))[..16]));
                let facts = InvoiceFacts {
                    number: column("number").text().to_owned(),
                    total: column("total").decimal(),
                    content,
                };
                self.invoices
                    .insert((column("tenant_id").text().to_owned(), column("invoice_id").text().to_owned()), facts);
            }
            _ => {}
        }
    }
}

/// SHA-256 over the values' canonical forms.
fn hash_values<'a>(values: impl Iterator<Item = &'a Value>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for value in values {
        hasher.update(value.canonical());
    }
    hasher.finalize().into()
}

/// Every difference between the two sides of `table`, one sentence each.
pub(super) fn differences(table: &str, source: &TableSummary, target: &TableSummary) -> Vec<String> {
    let mut found = Vec::new();
    if source.rows != target.rows {
        found.push(format!("{table}: {} rows in the source, {} in the target", source.rows, target.rows));
    } else if source.digest != target.digest {
        found.push(format!("{table}: as many rows on both sides ({}), but their contents differ", source.rows));
    }
    let mut details = rollup_differences(&source.rollups, &target.rollups);
    details.extend(invoice_differences(&source.invoices, &target.invoices));
    let hidden = details.len().saturating_sub(LISTED);
    found.extend(details.into_iter().take(LISTED).map(|d| format!("{table}: {d}")));
    if hidden > 0 {
        found.push(format!("{table}: … and {hidden} more differences"));
    }
    found
}

fn rollup_differences(source: &BTreeMap<String, RollupSums>, target: &BTreeMap<String, RollupSums>) -> Vec<String> {
    let show = |s: Option<&RollupSums>| {
        s.map_or("no rollups".to_owned(), |s| {
            format!(
                "cpu_cycles {}, memory_gb_seconds {}, invocations {}, records {}",
                s.cpu_cycles, s.memory_gb_seconds, s.invocations, s.records
            )
        })
    };
    union(source, target)
        .filter(|tenant| source.get(*tenant) != target.get(*tenant))
        .map(|tenant| {
            format!(
                "tenant {tenant}'s rollups sum to {} in the source but {} in the target",
                show(source.get(tenant)),
                show(target.get(tenant))
            )
        })
        .collect()
}

fn invoice_differences(
    source: &BTreeMap<(String, String), InvoiceFacts>,
    target: &BTreeMap<(String, String), InvoiceFacts>,
) -> Vec<String> {
    let mut found = Vec::new();
    for key in union(source, target) {
        let (tenant, id) = key;
        match (source.get(key), target.get(key)) {
            (Some(s), None) => {
                found.push(format!("invoice {} of tenant {tenant} ({id}) is missing in the target", s.number))
            }
            (None, Some(t)) => {
                found.push(format!("invoice {} of tenant {tenant} ({id}) is only in the target", t.number))
            }
            (Some(s), Some(t)) => {
                if s.total != t.total {
                    found.push(format!(
                        "invoice {} of tenant {tenant} ({id}) totals {} in the source but {} in the target",
                        s.number, s.total, t.total
                    ));
                }
                if s.content != t.content || s.number != t.number {
                    found.push(format!(
                        "invoice {} of tenant {tenant} ({id}): its finalized content differs (hash {} in the source, {} in the target)",
                        s.number,
                        s.content.as_deref().unwrap_or("none: a draft"),
                        t.content.as_deref().unwrap_or("none: a draft")
                    ));
                }
            }
            (None, None) => {}
        }
    }
    found
}

/// The keys of both maps, in order, each once.
fn union<'a, K: Ord, V>(a: &'a BTreeMap<K, V>, b: &'a BTreeMap<K, V>) -> impl Iterator<Item = &'a K> {
    let mut keys: Vec<&K> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::copy::tables::copied_table;
    use std::str::FromStr;

    fn rollup(tenant: &str, bucket: i64, invocations: &str) -> Values {
        vec![
            Value::Text(Some(tenant.into())),
            Value::Time(chrono::DateTime::from_timestamp(bucket, 0)),
            Value::Text(Some(String::new())),
            Value::Text(Some(String::new())),
            Value::Dec(Some(Decimal::ZERO)),
            Value::Dec(Some(Decimal::ZERO)),
            Value::Dec(Some(Decimal::from_str(invocations).unwrap())),
            Value::Int(Some(1)),
        ]
    }

    fn summary(rows: &[Values]) -> TableSummary {
        let table = copied_table("usage_rollup").unwrap();
        let mut summary = TableSummary::default();
        rows.iter().for_each(|row| summary.add(table, row));
        summary
    }

    #[test]
    fn the_same_rows_in_another_order_and_scale_are_no_difference() {
        let source = summary(&[rollup("acme", 0, "5"), rollup("beta", 900, "7")]);
        let target = summary(&[rollup("beta", 900, "7.000"), rollup("acme", 0, "5.0")]);
        assert_eq!(differences("usage_rollup", &source, &target), Vec::<String>::new());
    }

    #[test]
    fn a_changed_rollup_names_its_tenant_and_both_sums() {
        let source = summary(&[rollup("acme", 0, "5"), rollup("beta", 900, "7")]);
        let target = summary(&[rollup("acme", 0, "6"), rollup("beta", 900, "7")]);
        let found = differences("usage_rollup", &source, &target);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("contents differ"), "{found:?}");
        assert!(
            found[1].contains("tenant acme")
                && found[1].contains("invocations 5")
                && found[1].contains("invocations 6")
        );
    }

    #[test]
    fn a_missing_row_is_a_count_difference() {
        let source = summary(&[rollup("acme", 0, "5"), rollup("acme", 900, "7")]);
        let target = summary(&[rollup("acme", 0, "5")]);
        let found = differences("usage_rollup", &source, &target);
        assert_eq!(found[0], "usage_rollup: 2 rows in the source, 1 in the target");
    }
}
