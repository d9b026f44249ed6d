//! Records as `COPY … from stdin` text rows: the encoding the fast path streams (pure, no IO).
//!
//! Every value must read back exactly as the array binds of the checked path store it, so the
//! same record is the same row whichever path wrote it: timestamps are cut to microseconds
//! (sqlx truncates, while PostgreSQL would round more digits), decimals keep their scale, and
//! the content hash goes as `bytea` hex.

use std::fmt::Write;

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::domain::NewUsageRecord;
use crate::store::codec::whole;
use crate::store::DbError;

/// The statement the rows of [`copy_rows`] feed, columns in their order.
pub(super) const COPY_RECORDS_SQL: &str = "copy usage_record (tenant_id, source, record_id, ts, function, region, \
    cpu_cycles, memory_gb_seconds, invocations, event_type, content_hash, ingested_at) from stdin";

/// Bytes a typical row takes; only sizes the buffer.
const ROW_BYTES: usize = 160;

/// One text row per record, every row stamped `ingested_at`.
///
/// # Errors
/// [`DbError::Corrupt`] when an integer meter is not a whole `i64` or a timestamp has no
/// four-digit year (ingest refuses both).
pub(super) fn copy_rows(records: &[&NewUsageRecord], ingested_at: DateTime<Utc>) -> Result<Vec<u8>, DbError> {
    let mut ingested = String::new();
    push_timestamp(&mut ingested, ingested_at)?;
    let mut out = String::with_capacity(records.len() * ROW_BYTES);
    for r in records {
        for text in [r.key.tenant_id.as_str(), &r.key.source, &r.key.record_id] {
            push_escaped(&mut out, text);
            out.push('\t');
        }
        push_timestamp(&mut out, r.timestamp)?;
        out.push('\t');
        push_escaped(&mut out, &r.function);
        out.push('\t');
        push_escaped(&mut out, &r.region);
        let q = &r.quantities;
        let (cpu, invocations) = (whole(q.cpu_cycles)?, whole(q.invocations)?);
        // Writing to a String cannot fail.
        let _ = write!(out, "\t{cpu}\t{}\t{invocations}\t", q.memory_gb_seconds);
        push_escaped(&mut out, &r.event_type);
        out.push_str("\t\\\\x");
        push_hex(&mut out, &r.content_hash.0);
        out.push('\t');
        out.push_str(&ingested);
        out.push('\n');
    }
    Ok(out.into_bytes())
}

/// Text with the four bytes the text format gives a meaning escaped; `\N` (null) cannot
/// appear, as every backslash is doubled.
fn push_escaped(out: &mut String, text: &str) {
    if !text.bytes().any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r')) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            other => out.push(other),
        }
    }
}

/// Bytes as lowercase hex digits, without a string per value.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
}

/// `2026-12-02 14:07:06.123456+00`: an explicit offset, so the session's time zone is irrelevant.
fn push_timestamp(out: &mut String, at: DateTime<Utc>) -> Result<(), DbError> {
    if !(1..=9999).contains(&at.year()) {
        return Err(DbError::Corrupt(format!("timestamp {at} is outside years 1–9999")));
    }
    // Leap-second nanoseconds (≥ 1 s) are cut like any others.
    let micros = at.nanosecond() % 1_000_000_000 / 1_000;
    let _ = write!(
        out,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{micros:06}+00",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::domain::testing::at;
    use crate::domain::{ContentHash, Quantities, RecordKey, TenantId};

    fn record(record_id: &str, function: &str) -> NewUsageRecord {
        NewUsageRecord {
            key: RecordKey {
                tenant_id: TenantId::parse("acme").unwrap(),
                source: "s".into(),
                record_id: record_id.into(),
            },
            timestamp: at("2026-12-02T14:07:06.123456789Z"),
            function: function.into(),
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

    fn text(records: &[NewUsageRecord]) -> String {
        let refs: Vec<&NewUsageRecord> = records.iter().collect();
        String::from_utf8(copy_rows(&refs, at("2026-12-02T14:08:00Z")).unwrap()).unwrap()
    }

    #[test]
    fn a_row_holds_every_column_in_statement_order_with_microseconds_cut_and_scale_kept() {
        let row = text(&[record("r1", "f")]);
        let hash = "ab".repeat(16);
        let expected = format!(
            "acme\ts\tr1\t2026-12-02 14:07:06.123456+00\tf\teu\t7\t1.500\t1\t\t\\\\x{hash}\t2026-12-02 14:08:00.000000+00\n"
        );
        assert_eq!(row, expected);
    }

    #[test]
    fn tabs_newlines_and_backslashes_in_text_are_escaped_so_rows_stay_one_line() {
        let row = text(&[record("a\tb\nc\rd\\N", "é")]);
        assert!(row.starts_with("acme\ts\ta\\tb\\nc\\rd\\\\N\t"), "{row}");
        assert!(row.contains("\té\t"), "other characters pass as they are: {row}");
        assert_eq!(row.matches('\n').count(), 1);
    }

    #[test]
    fn a_meter_that_is_not_a_whole_integer_is_refused() {
        let mut fractional = record("r", "f");
        fractional.quantities.cpu_cycles = Decimal::new(15, 1);
        let refs = [&fractional];
        assert!(matches!(copy_rows(&refs, at("2026-12-02T14:08:00Z")), Err(DbError::Corrupt(_))));
    }
}
