//! Records as a `COPY … (format binary)` stream: the encoding the fast path sends (pure, no IO).
//!
//! Binary, not text: PostgreSQL parses no timestamp, number or hex digit. A server-side `COPY`
//! from a file measured ≈ 20 % less server time than text; through the protocol the bench's
//! two raw baselines cost the same (BENCHMARKS.md), so this is no lever, only no parsing.
//! Every non-text value is written by sqlx's own `Encode`, the bytes the checked path's array
//! binds send, so the same record is the same row whichever path wrote it: timestamps cut to
//! microseconds, decimals keep their scale.
//!
//! The format (PostgreSQL docs, "COPY", binary format): a fixed header; per row a 16-bit field
//! count, then per field a 32-bit length and the value's binary body; a 16-bit −1 trailer.

use chrono::{DateTime, Utc};
use sqlx::encode::IsNull;
use sqlx::postgres::PgArgumentBuffer;
use sqlx::{Encode, Postgres};

use crate::domain::NewUsageRecord;
use crate::store::codec::whole;
use crate::store::DbError;

/// The statement the stream of [`copy_rows`] feeds, columns in their order.
pub const COPY_RECORDS_SQL: &str = "copy usage_record (tenant_id, source, record_id, ts, function, region, \
    cpu_cycles, memory_gb_seconds, invocations, event_type, content_hash, ingested_at) from stdin (format binary)";

/// The signature, the flags (no OIDs) and the header extension's length (none).
pub(super) const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Fields per row: the twelve columns of [`COPY_RECORDS_SQL`].
const FIELDS: i16 = 12;

/// Bytes a typical row takes; only sizes the buffer.
const ROW_BYTES: usize = 200;

/// The whole stream for `records`, every row stamped `ingested_at` (public for the ingest
/// benchmark's raw-`COPY` baseline, which streams exactly these bytes).
///
/// # Errors
/// [`DbError::Corrupt`] when an integer meter is not a whole `i64` (ingest refuses it), or a
/// value is too large for the format (a 2 GiB text).
pub fn copy_rows(records: &[&NewUsageRecord], ingested_at: DateTime<Utc>) -> Result<Vec<u8>, DbError> {
    let mut out = Vec::with_capacity(HEADER.len() + records.len() * ROW_BYTES + 2);
    out.extend_from_slice(HEADER);
    let mut scratch = PgArgumentBuffer::default();
    for r in records {
        let q = &r.quantities;
        out.extend_from_slice(&FIELDS.to_be_bytes());
        for text in [r.key.tenant_id.as_str(), &r.key.source, &r.key.record_id] {
            push_field(&mut out, text.as_bytes())?;
        }
        push_encoded(&mut out, &mut scratch, &r.timestamp)?;
        push_field(&mut out, r.function.as_bytes())?;
        push_field(&mut out, r.region.as_bytes())?;
        push_encoded(&mut out, &mut scratch, &whole(q.cpu_cycles)?)?;
        push_encoded(&mut out, &mut scratch, &q.memory_gb_seconds)?;
        push_encoded(&mut out, &mut scratch, &whole(q.invocations)?)?;
        push_field(&mut out, r.event_type.as_bytes())?;
        push_field(&mut out, &r.content_hash.0)?;
        push_encoded(&mut out, &mut scratch, &ingested_at)?;
    }
    out.extend_from_slice(&(-1_i16).to_be_bytes());
    Ok(out)
}

/// One field: its length, then its bytes.
pub(super) fn push_field(out: &mut Vec<u8>, value: &[u8]) -> Result<(), DbError> {
    let length = i32::try_from(value.len()).map_err(|_| DbError::Corrupt("a value too large to store".into()))?;
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

/// A value's binary body as sqlx binds it (`timestamptz`: microseconds since 2000, the
/// nanoseconds cut; `numeric`: digit count, weight, sign, scale, base-10 000 digits), written
/// through a reused buffer.
pub(super) fn push_encoded<'v, T: Encode<'v, Postgres> + std::fmt::Display>(
    out: &mut Vec<u8>,
    scratch: &mut PgArgumentBuffer,
    value: &T,
) -> Result<(), DbError> {
    scratch.clear();
    let encoded =
        value.encode_by_ref(scratch).map_err(|e| DbError::Corrupt(format!("{value} has no binary form: {e}")))?;
    match encoded {
        IsNull::No => push_field(out, scratch),
        IsNull::Yes => Err(DbError::Corrupt(format!("{value} encoded as null"))),
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::domain::testing::at;
    use crate::domain::{ContentHash, Quantities, RecordKey, TenantId};

    fn record(record_id: &str) -> NewUsageRecord {
        NewUsageRecord {
            key: RecordKey {
                tenant_id: TenantId::parse("acme").unwrap(),
                source: "s".into(),
                record_id: record_id.into(),
            },
            timestamp: at("2000-01-01T00:00:01.000002999Z"),
            function: "f".into(),
            region: "eu".into(),
            quantities: Quantities {
                cpu_cycles: Decimal::from(7),
                memory_gb_seconds: Decimal::new(1500, 3),
                invocations: Decimal::ONE,
            },
            event_type: String::new(),
            content_hash: ContentHash([0xab; 16]),
        }
    }

    fn stream(records: &[NewUsageRecord]) -> Vec<u8> {
        let refs: Vec<&NewUsageRecord> = records.iter().collect();
        copy_rows(&refs, at("2000-01-01T00:00:00Z")).unwrap()
    }

    /// The fields of the one row of `stream`, split by their lengths.
    fn fields(stream: &[u8]) -> Vec<Vec<u8>> {
        let mut at = HEADER.len() + 2;
        let mut fields = Vec::new();
        for _ in 0..FIELDS {
            let length = i32::from_be_bytes(stream[at..at + 4].try_into().unwrap()) as usize;
            fields.push(stream[at + 4..at + 4 + length].to_vec());
            at += 4 + length;
        }
        assert_eq!(&stream[at..], &[0xff, 0xff], "the trailer follows the last field");
        fields
    }

    #[test]
    fn a_stream_is_the_header_rows_of_twelve_fields_and_the_trailer() {
        let two = stream(&[record("r1"), record("r2")]);
        assert!(two.starts_with(b"PGCOPY\n\xff\r\n\0"));
        assert_eq!(&two[HEADER.len()..HEADER.len() + 2], &12_i16.to_be_bytes());
        assert!(two.ends_with(&[0xff, 0xff]));
        assert_eq!(stream(&[]), [HEADER, &[0xff, 0xff]].concat(), "no record: header and trailer");
    }

    #[test]
    fn every_column_goes_in_statement_order_as_its_binary_body() {
        let row = fields(&stream(&[record("r1")]));
        assert_eq!(row[0], b"acme");
        assert_eq!(row[2], b"r1");
        assert_eq!(row[3], 1_000_002_i64.to_be_bytes(), "microseconds since 2000, the nanoseconds cut");
        assert_eq!(row[6], 7_i64.to_be_bytes());
        // 1.500: two base-10 000 digits (1, 5000), weight 0, positive, scale 3 — kept.
        assert_eq!(row[7], [0, 2, 0, 0, 0, 0, 0, 3, 0, 1, 0x13, 0x88]);
        assert_eq!(row[9], b"", "an empty text is a zero-length field, not a null");
        assert_eq!(row[10], [0xab; 16]);
        assert_eq!(row[11], 0_i64.to_be_bytes());
    }

    #[test]
    fn a_meter_that_is_not_a_whole_integer_is_refused() {
        let mut fractional = record("r");
        fractional.quantities.cpu_cycles = Decimal::new(15, 1);
        assert!(matches!(copy_rows(&[&fractional], at("2026-12-02T14:08:00Z")), Err(DbError::Corrupt(_))));
    }
}
