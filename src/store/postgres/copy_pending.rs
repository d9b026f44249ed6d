//! Pending rollup deltas as a `COPY … (format binary)` stream into
//! `usage_rollup_pending_batch` (pure, no IO): the rows `rollup_pending.rs`'s `APPEND_SQL`
//! builds in PostgreSQL, one per tenant and UTC month with the deltas as parallel arrays,
//! grouped here instead.
//!
//! Why: for a group commit of 2 000 records across 800 rollup keys, that statement has
//! PostgreSQL unnest nine arrays into a materialized table, hash them by tenant and month and
//! build seven arrays again: ≈ 6 % of its CPU in batched ingest (BENCHMARKS.md, Dec 5). Here
//! it only reads the finished arrays. The rows are the statement's, element for element; the
//! order of deltas inside a row, which no reader depends on, is the order given.
//!
//! An array's binary body (PostgreSQL's `array_send`): the number of dimensions (1), a
//! has-nulls flag (0), the element type's OID, the length and lower bound (1) of the one
//! dimension, then each element as a `COPY` field is written: its length, then its body.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgArgumentBuffer;

use super::copy_binary::{push_encoded, push_field, HEADER};
use crate::aggregate::{RollupKey, RollupTotals};
use crate::store::partitions::month_start;
use crate::store::DbError;

/// The statement the stream of [`pending_rows`] feeds, columns in their order.
pub(in crate::store) const COPY_PENDING_SQL: &str = "copy usage_rollup_pending_batch (tenant_id, month_start, \
    bucket_starts, functions, regions, cpu_cycles, memory_gb_seconds, invocations, records) \
    from stdin (format binary)";

/// Fields per row: the nine columns of [`COPY_PENDING_SQL`].
const FIELDS: i16 = 9;

/// Element type OIDs (`pg_type`), which an array's body names.
const TEXT: u32 = 25;
const INT8: u32 = 20;
const TIMESTAMPTZ: u32 = 1184;
const NUMERIC: u32 = 1700;

/// Bytes a typical delta takes across the seven arrays; only sizes the buffer.
const DELTA_BYTES: usize = 120;

type Delta = (RollupKey, RollupTotals);

/// The whole stream for `deltas`: one row per tenant and UTC month of their buckets.
///
/// # Errors
/// [`DbError::Corrupt`] when a value has no binary form or is too large for the format.
pub(in crate::store) fn pending_rows(deltas: &[Delta]) -> Result<Vec<u8>, DbError> {
    let mut rows: BTreeMap<(&str, DateTime<Utc>), Vec<&Delta>> = BTreeMap::new();
    for delta in deltas {
        rows.entry((delta.0.tenant_id.as_str(), month_start(delta.0.bucket_start))).or_default().push(delta);
    }
    let mut out = Vec::with_capacity(HEADER.len() + rows.len() * 64 + deltas.len() * DELTA_BYTES + 2);
    out.extend_from_slice(HEADER);
    let mut scratch = PgArgumentBuffer::default();
    for ((tenant_id, month), of_row) in &rows {
        out.extend_from_slice(&FIELDS.to_be_bytes());
        push_field(&mut out, tenant_id.as_bytes())?;
        push_encoded(&mut out, &mut scratch, month)?;
        push_array(&mut out, TIMESTAMPTZ, of_row, |out, (k, _)| push_encoded(out, &mut scratch, &k.bucket_start))?;
        push_array(&mut out, TEXT, of_row, |out, (k, _)| push_field(out, k.function.as_bytes()))?;
        push_array(&mut out, TEXT, of_row, |out, (k, _)| push_field(out, k.region.as_bytes()))?;
        push_array(&mut out, NUMERIC, of_row, |out, (_, t)| push_encoded(out, &mut scratch, &t.quantities.cpu_cycles))?;
        push_array(&mut out, NUMERIC, of_row, |out, (_, t)| {
            push_encoded(out, &mut scratch, &t.quantities.memory_gb_seconds)
        })?;
        push_array(&mut out, NUMERIC, of_row, |out, (_, t)| {
            push_encoded(out, &mut scratch, &t.quantities.invocations)
        })?;
        push_array(&mut out, INT8, of_row, |out, (_, t)| push_encoded(out, &mut scratch, &t.records))?;
    }
    out.extend_from_slice(&(-1_i16).to_be_bytes());
    Ok(out)
}

/// One field holding a one-dimensional array without nulls, each element written by
/// `element` (as a field: its length, then its body).
fn push_array(
    out: &mut Vec<u8>,
    element_type: u32,
    of_row: &[&Delta],
    mut element: impl FnMut(&mut Vec<u8>, &Delta) -> Result<(), DbError>,
) -> Result<(), DbError> {
    let too_large = || DbError::Corrupt("an array too large to store".into());
    let length_at = out.len();
    out.extend_from_slice(&0_i32.to_be_bytes()); // the field's length, known at the end
    out.extend_from_slice(&1_i32.to_be_bytes()); // dimensions
    out.extend_from_slice(&0_i32.to_be_bytes()); // no nulls
    out.extend_from_slice(&element_type.to_be_bytes());
    out.extend_from_slice(&i32::try_from(of_row.len()).map_err(|_| too_large())?.to_be_bytes());
    out.extend_from_slice(&1_i32.to_be_bytes()); // lower bound
    for delta in of_row {
        element(out, delta)?;
    }
    let length = i32::try_from(out.len() - length_at - 4).map_err(|_| too_large())?;
    out[length_at..length_at + 4].copy_from_slice(&length.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::domain::testing::at;
    use crate::domain::{Quantities, TenantId};

    fn delta(tenant: &str, bucket: &str, function: &str, records: i64) -> Delta {
        let key = RollupKey {
            tenant_id: TenantId::parse(tenant).unwrap(),
            bucket_start: at(bucket),
            function: function.into(),
            region: "eu".into(),
        };
        let quantities = Quantities {
            cpu_cycles: Decimal::from(7 * records),
            memory_gb_seconds: Decimal::new(15 * records, 1),
            invocations: Decimal::from(records),
        };
        (key, RollupTotals { quantities, records })
    }

    /// Reads a stream back: per row, its fields' bodies.
    fn rows(stream: &[u8]) -> Vec<Vec<Vec<u8>>> {
        assert!(stream.starts_with(HEADER));
        let mut at = HEADER.len();
        let mut rows = Vec::new();
        loop {
            let fields = i16::from_be_bytes(stream[at..at + 2].try_into().unwrap());
            at += 2;
            if fields == -1 {
                assert_eq!(at, stream.len(), "the trailer ends the stream");
                return rows;
            }
            assert_eq!(fields, FIELDS);
            let mut row = Vec::new();
            for _ in 0..fields {
                let length = i32::from_be_bytes(stream[at..at + 4].try_into().unwrap()) as usize;
                row.push(stream[at + 4..at + 4 + length].to_vec());
                at += 4 + length;
            }
            rows.push(row);
        }
    }

    /// An array field's element type and its elements' bodies.
    fn array(field: &[u8]) -> (u32, Vec<Vec<u8>>) {
        let word = |at: usize| i32::from_be_bytes(field[at..at + 4].try_into().unwrap());
        assert_eq!((word(0), word(4), word(16)), (1, 0, 1), "one dimension, no nulls, lower bound 1");
        let mut at = 20;
        let elements = (0..word(12))
            .map(|_| {
                let length = word(at) as usize;
                at += 4 + length;
                field[at - length..at].to_vec()
            })
            .collect();
        assert_eq!(at, field.len(), "the elements fill the field");
        (word(8) as u32, elements)
    }

    #[test]
    fn deltas_become_one_row_per_tenant_and_month() {
        let deltas = [
            delta("beta", "2026-12-01T10:00:00Z", "f", 1),
            delta("acme", "2026-12-01T10:00:00Z", "f", 2),
            delta("acme", "2026-11-30T23:45:00Z", "g", 3),
            delta("acme", "2026-12-01T10:15:00Z", "g", 4),
        ];
        let rows = rows(&pending_rows(&deltas).unwrap());
        let of = |row: &Vec<Vec<u8>>| (String::from_utf8(row[0].clone()).unwrap(), array(&row[8]).1.len());
        let shape: Vec<(String, usize)> = rows.iter().map(of).collect();
        assert_eq!(
            shape,
            [("acme".into(), 1), ("acme".into(), 2), ("beta".into(), 1)],
            "acme's November delta, acme's two December deltas, beta's one"
        );
    }

    #[test]
    fn the_arrays_stay_parallel_in_the_order_given() {
        let deltas = [delta("acme", "2026-12-01T10:15:00Z", "g", 4), delta("acme", "2026-12-01T10:00:00Z", "f", 2)];
        let rows = rows(&pending_rows(&deltas).unwrap());
        let row = &rows[0];
        assert_eq!(array(&row[3]), (TEXT, vec![b"g".to_vec(), b"f".to_vec()]), "functions");
        assert_eq!(array(&row[4]), (TEXT, vec![b"eu".to_vec(), b"eu".to_vec()]), "regions");
        assert_eq!(array(&row[8]), (INT8, vec![4_i64.to_be_bytes().to_vec(), 2_i64.to_be_bytes().to_vec()]));
        let (element_type, buckets) = array(&row[2]);
        assert_eq!(element_type, TIMESTAMPTZ);
        assert!(buckets[0] > buckets[1], "10:15 before 10:00, as given");
        for (field, name) in [(5, "cpu"), (6, "memory"), (7, "invocations")] {
            assert_eq!(array(&row[field]).0, NUMERIC, "{name}");
        }
    }

    #[test]
    fn a_row_holds_the_month_its_buckets_start_in() {
        let rows = rows(&pending_rows(&[delta("acme", "2026-11-30T23:45:00Z", "f", 1)]).unwrap());
        let mut month = PgArgumentBuffer::default();
        push_encoded(&mut Vec::new(), &mut month, &at("2026-11-01T00:00:00Z")).unwrap();
        assert_eq!(rows[0][1], month.to_vec());
    }

    #[test]
    fn no_delta_is_an_empty_stream() {
        assert!(rows(&pending_rows(&[]).unwrap()).is_empty());
    }
}
