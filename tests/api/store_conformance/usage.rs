//! `usage_record`, `usage_rollup` and `usage_correction`: the write path, rollup reads, the
//! rebuild from raw records, and corrections.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use super::{at, dec, id, tenant, usage, usage_of};
use crate::both_stores;
use crate::helpers::{execute_sql, operator, test_now};
use tally::aggregate::{fold_records, RecordState, Rollup};
use tally::domain::{CorrectionAction, NewUsageRecord, Quantities, RecordKey, UsageCorrection};
use tally::store::{CorrectionOutcome, InsertOutcome, RebuildReport, Store};

/// `(bucket start, function, memory as text, records)` of every rollup of `tenant`.
async fn rollup_rows(store: &Store, tenant: &str) -> Vec<(DateTime<Utc>, String, String, i64)> {
    let rollups = store.all_rollups(&id(tenant)).await.unwrap();
    rollups.into_iter().map(row).collect()
}

fn row(r: Rollup) -> (DateTime<Utc>, String, String, i64) {
    (r.key.bucket_start, r.key.function, r.totals.quantities.memory_gb_seconds.to_string(), r.totals.records)
}

/// Rows as `rollup_rows` renders them, buckets given as times of `test_now()`'s day.
fn expected(rows: &[(&str, &str, &str, i64)]) -> Vec<(DateTime<Utc>, String, String, i64)> {
    rows.iter().map(|(b, f, m, n)| (today(b), f.to_string(), m.to_string(), *n)).collect()
}

/// A time of `test_now()`'s day (2026-11-27, UTC): `"11:45"` or `"11:45:00.000001"`.
fn today(time: &str) -> DateTime<Utc> {
    let time = if time.len() == 5 { format!("{time}:00") } else { time.to_owned() };
    at(&format!("2026-11-27T{time}Z"))
}

/// `acme`'s records around `test_now()` (12:00): buckets 11:30, 11:45 (functions f and g), 12:00.
fn records() -> Vec<NewUsageRecord> {
    let rows = [
        ("b", "11:46", "g", "0.2"),
        ("d", "12:05", "f", "0.4"),
        ("c", "11:31", "f", "0.3"),
        ("a", "11:50", "f", "0.1"),
        ("e", "11:52", "f", "0.25"),
    ];
    rows.map(|(id, time, function, memory)| usage_of("acme", id, today(time), function, memory)).to_vec()
}

/// One record of `beta`, in the 11:45 bucket.
fn beta_record() -> [NewUsageRecord; 1] {
    [usage_of("beta", "x", today("11:50"), "f", "9")]
}

fn correction(record_id: &str, action: CorrectionAction, closed_before: Option<DateTime<Utc>>) -> UsageCorrection {
    let key = RecordKey { tenant_id: id("acme"), source: String::new(), record_id: record_id.into() };
    UsageCorrection { key, action, reason: "test".into(), closed_before, accepted_from: None }
}

fn replace(function: &str, memory: &str) -> CorrectionAction {
    let quantities = Quantities { memory_gb_seconds: dec(memory), invocations: Decimal::ONE, ..Default::default() };
    CorrectionAction::Replace { function: function.into(), region: String::new(), quantities }
}

fn state(record: &NewUsageRecord) -> Option<Box<RecordState>> {
    let (timestamp, function, region, quantities) =
        (record.timestamp, record.function.clone(), record.region.clone(), record.quantities);
    Some(Box::new(RecordState { timestamp, function, region, quantities }))
}

both_stores! {
    async fn inserts_report_existing_keys_with_their_stored_hash_and_roll_up_only_new_rows(app) {
        // Arrange
        let store = &app.store;
        store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
        let first = [usage("a", 1, "0.1"), usage("b", 20, "0.2")];
        // Act
        let inserted = store.insert_usage(&first, test_now()).await.unwrap();
        let again = [usage("a", 1, "0.9"), usage("c", 1, "0.3")];
        let second = store.insert_usage(&again, test_now()).await.unwrap();
        // Assert
        assert_eq!(inserted, vec![InsertOutcome::Inserted, InsertOutcome::Inserted]);
        assert_eq!(second, vec![InsertOutcome::Existing(first[0].content_hash), InsertOutcome::Inserted]);
        let expected = fold_records(first.iter().chain(std::iter::once(&again[1]))).unwrap();
        let stored = store.all_rollups(&id("acme")).await.unwrap();
        let stored: Vec<_> = stored.into_iter().map(|r| (r.key, r.totals)).collect();
        assert_eq!(stored, expected.into_iter().collect::<Vec<_>>());
    }

    async fn rollups_are_read_in_a_half_open_range_ordered_by_key(app) {
        // Arrange
        let store = &app.store;
        store.insert_usage(&records(), test_now()).await.unwrap();
        store.insert_usage(&beta_record(), test_now()).await.unwrap();
        let cases = [
            ("11:45", "12:00", vec![("11:45", "f", "0.35", 2), ("11:45", "g", "0.2", 1)], "from in, to out"),
            ("11:45:00.000001", "12:00:00.000001", vec![("12:00", "f", "0.4", 1)], "a bucket before from is out"),
            ("11:00", "11:30", vec![], "a range without buckets"),
            ("00:00", "23:59", vec![
                ("11:30", "f", "0.3", 1),
                ("11:45", "f", "0.35", 2),
                ("11:45", "g", "0.2", 1),
                ("12:00", "f", "0.4", 1),
            ], "the whole day, ordered by bucket, function, region"),
        ];
        for (from, to, rows, description) in cases {
            // Act
            let rollups = store.rollups(&id("acme"), today(from), today(to)).await.unwrap();
            // Assert
            assert_eq!(rollups.into_iter().map(row).collect::<Vec<_>>(), expected(&rows), "{description}");
        }
        assert_eq!(rollup_rows(store, "beta").await, expected(&[("11:45", "f", "9", 1)]), "rollups are per tenant");
    }

    async fn rebuilding_rollups_reproduces_the_write_path_and_counts_what_it_did(app) {
        // Arrange
        let store = &app.store;
        store.insert_usage(&records(), test_now()).await.unwrap();
        store.insert_usage(&beta_record(), test_now()).await.unwrap();
        let written = (rollup_rows(store, "acme").await, rollup_rows(store, "beta").await);
        execute_sql(&app, "delete from usage_rollup").await.unwrap();
        // Act
        let report = store.rebuild_rollups().await.unwrap();
        // Assert
        assert_eq!(report, RebuildReport { records: 6, rollups: 5 });
        assert_eq!((rollup_rows(store, "acme").await, rollup_rows(store, "beta").await), written);
        assert_eq!(store.rebuild_rollups().await.unwrap(), report, "a second rebuild changes nothing");
    }

    async fn rebuilding_after_corrections_matches_the_corrected_rollups(app) {
        // Arrange
        let store = &app.store;
        store.insert_usage(&records(), test_now()).await.unwrap();
        store.correct_usage(&correction("c", CorrectionAction::Void, None), test_now()).await.unwrap();
        store.correct_usage(&correction("a", replace("g", "0.5"), None), test_now()).await.unwrap();
        store.correct_usage(&correction("e", replace("f", "0.01"), None), test_now()).await.unwrap();
        let corrected = rollup_rows(store, "acme").await;
        // Act
        let report = store.rebuild_rollups().await.unwrap();
        // Assert
        let rows = [("11:45", "f", "0.01", 1), ("11:45", "g", "0.7", 2), ("12:00", "f", "0.4", 1)];
        assert_eq!(corrected, expected(&rows), "11:30 emptied by the void; a moved to g; e shrunk");
        assert_eq!(rollup_rows(store, "acme").await, corrected, "the rebuild agrees with the write path");
        assert_eq!(report, RebuildReport { records: 4, rollups: 3 }, "a voided record is not counted");
    }

    async fn corrections_report_what_they_did_to_a_record(app) {
        // Arrange
        let store = &app.store;
        let original = usage("a", 10, "0.1");
        store.insert_usage(std::slice::from_ref(&original), test_now()).await.unwrap();
        let quantities = Quantities { memory_gb_seconds: dec("0.5"), ..original.quantities };
        let replaced = NewUsageRecord { function: "g".into(), quantities, ..original.clone() };
        // Act
        let correct = |record_id, action| async move {
            store.correct_usage(&correction(record_id, action, None), test_now()).await.unwrap()
        };
        let unknown = correct("nope", CorrectionAction::Void).await;
        let first = correct("a", replace("g", "0.5")).await;
        let void = correct("a", CorrectionAction::Void).await;
        let void_again = correct("a", CorrectionAction::Void).await;
        let revived = correct("a", replace("f", "0.1")).await;
        // Assert
        assert_eq!(unknown, CorrectionOutcome::RecordNotFound);
        assert_eq!(first, CorrectionOutcome::Applied { seq: 1, before: state(&original), after: state(&replaced) });
        assert_eq!(void, CorrectionOutcome::Applied { seq: 2, before: state(&replaced), after: None });
        assert_eq!(void_again, CorrectionOutcome::AlreadyVoid);
        let revived_expected = CorrectionOutcome::Applied { seq: 3, before: None, after: state(&original) };
        assert_eq!(revived, revived_expected, "a replace after a void counts the record again");
        assert_eq!(rollup_rows(store, "acme").await, expected(&[("11:45", "f", "0.1", 1)]));
    }

    async fn a_correction_inside_a_closed_period_is_refused(app) {
        // Arrange
        let store = &app.store;
        let record = usage("a", 10, "0.1");
        store.insert_usage(std::slice::from_ref(&record), test_now()).await.unwrap();
        let micro = Duration::microseconds(1);
        // Act
        let cases = [
            (Some(record.timestamp + micro), false, "a period closed just after the record"),
            (Some(record.timestamp), true, "a period closed exactly at the record"),
            (None, true, "no closed period"),
        ];
        // Assert
        for (closed_before, applied, description) in cases {
            let c = correction("a", replace("f", "0.2"), closed_before);
            let outcome = store.correct_usage(&c, test_now()).await.unwrap();
            assert_eq!(matches!(outcome, CorrectionOutcome::Applied { .. }), applied, "{description}: {outcome:?}");
            if !applied {
                assert_eq!(outcome, CorrectionOutcome::PeriodClosed, "{description}");
                let unchanged = expected(&[("11:45", "f", "0.1", 1)]);
                assert_eq!(rollup_rows(store, "acme").await, unchanged, "{description}: rollups unchanged");
            }
        }
    }

    async fn corrections_move_rollups_by_the_difference_and_drop_emptied_buckets(app) {
        // Arrange
        let store = &app.store;
        store.insert_usage(&[usage("a", 10, "0.1"), usage("b", 11, "0.2")], test_now()).await.unwrap();
        let b = "11:45";
        let steps = [
            ("a", replace("f", "0.15"), vec![(b, "f", "0.35", 2)], "a replace adds the difference"),
            ("a", replace("f", "0.15"), vec![(b, "f", "0.35", 2)], "an identical replace changes nothing"),
            ("b", replace("g", "0.2"), vec![(b, "f", "0.15", 1), (b, "g", "0.2", 1)], "a new function moves it"),
            ("b", CorrectionAction::Void, vec![(b, "f", "0.15", 1)], "a void subtracts; the emptied row goes"),
            ("a", CorrectionAction::Void, vec![], "the last record's void drops the bucket"),
        ];
        for (record_id, action, rows, description) in steps {
            // Act
            let outcome = store.correct_usage(&correction(record_id, action, None), test_now()).await.unwrap();
            // Assert
            assert!(matches!(outcome, CorrectionOutcome::Applied { .. }), "{description}: {outcome:?}");
            assert_eq!(rollup_rows(store, "acme").await, expected(&rows), "{description}");
        }
    }

    async fn sampled_record_ids_come_from_a_half_open_range_up_to_a_limit(app) {
        // Arrange
        let store = &app.store;
        let acme = ["m1", "m3", "m5", "m20"].map(|m| usage(m, m[1..].parse().unwrap(), "1"));
        store.insert_usage(&acme, test_now()).await.unwrap();
        let beta = usage_of("beta", "b3", test_now() - Duration::minutes(3), "f", "1");
        store.insert_usage(&[beta], test_now()).await.unwrap();
        let (from, to) = (test_now() - Duration::minutes(5), test_now() - Duration::minutes(1));
        // Act
        let mut all = store.sample_record_ids(&id("acme"), from, to, 10).await.unwrap();
        let one = store.sample_record_ids(&id("acme"), from, to, 1).await.unwrap();
        let none = store.sample_record_ids(&id("acme"), from, to, 0).await.unwrap();
        // Assert
        all.sort();
        assert_eq!(all, vec!["m3", "m5"], "from is inclusive, to exclusive, other tenants out");
        assert!(one.len() == 1 && all.contains(&one[0]), "{one:?}");
        assert!(none.is_empty());
    }
}
