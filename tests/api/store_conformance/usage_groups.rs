//! `Store::insert_usage` on groups the size the writer commits: new keys mixed with stored ones
//! (on PostgreSQL such a group meets a primary key in the middle of its `COPY` and falls back),
//! runs of groups with duplicates, and text the `COPY` format must escape.

use chrono::Duration;

use super::{at, id, usage, usage_of};
use crate::both_stores;
use crate::helpers::test_now;
use tally::aggregate::{fold_records, RollupKey, RollupTotals};
use tally::domain::NewUsageRecord;
use tally::store::{InsertOutcome, Store};

/// `count` new records of `acme` named `prefix-0…`, a minute apart, each its own memory.
fn fresh(prefix: &str, count: usize) -> Vec<NewUsageRecord> {
    (0..count).map(|i| usage(&format!("{prefix}-{i}"), 1 + i as i64 % 50, &format!("0.{}", i + 1))).collect()
}

/// Every rollup row of `acme`, as the fold compares them.
async fn stored_rollups(store: &Store) -> Vec<(RollupKey, RollupTotals)> {
    let rollups = store.all_rollups(&id("acme")).await.unwrap();
    rollups.into_iter().map(|r| (r.key, r.totals)).collect()
}

fn folded<'a>(records: impl IntoIterator<Item = &'a NewUsageRecord>) -> Vec<(RollupKey, RollupTotals)> {
    fold_records(records).unwrap().into_iter().collect()
}

both_stores! {
    async fn a_group_meeting_stored_keys_inserts_only_its_new_records_and_names_each_stored_hash(app) {
        // Arrange
        let store = &app.store;
        let first = fresh("old", 3);
        store.insert_usage(&first, test_now()).await.unwrap();
        let resent = first[0].clone();
        let conflicting = NewUsageRecord { content_hash: usage("x", 2, "9").content_hash, ..first[1].clone() };
        let new = fresh("new", 40);
        let mut group = new[..20].to_vec();
        group.push(resent);
        group.extend(new[20..].iter().cloned());
        group.push(conflicting);
        // Act
        let outcomes = store.insert_usage(&group, test_now()).await.unwrap();
        // Assert
        let mut expected = vec![InsertOutcome::Inserted; 20];
        expected.push(InsertOutcome::Existing(first[0].content_hash));
        expected.extend(vec![InsertOutcome::Inserted; 20]);
        expected.push(InsertOutcome::Existing(first[1].content_hash));
        assert_eq!(outcomes, expected, "the stored hash tells a resend from a conflict");
        assert_eq!(stored_rollups(store).await, folded(first.iter().chain(&new)), "rollups hold each record once");
    }

    async fn runs_of_groups_with_and_without_stored_keys_each_store_every_new_record_once(app) {
        // Arrange
        let store = &app.store;
        let all = fresh("r", 120);
        let groups: [(&[NewUsageRecord], &[NewUsageRecord]); 5] = [
            (&all[..30], &[]),
            (&all[30..50], &all[..5]),
            (&all[50..70], &all[30..32]),
            (&all[70..100], &[]),
            (&all[100..], &all[60..61]),
        ];
        for (step, (new, resent)) in groups.into_iter().enumerate() {
            let group: Vec<NewUsageRecord> = resent.iter().chain(new).cloned().collect();
            // Act
            let outcomes = store.insert_usage(&group, test_now()).await.unwrap();
            // Assert
            let expected: Vec<InsertOutcome> = resent
                .iter()
                .map(|r| InsertOutcome::Existing(r.content_hash))
                .chain(new.iter().map(|_| InsertOutcome::Inserted))
                .collect();
            assert_eq!(outcomes, expected, "group {step}");
        }
        assert_eq!(stored_rollups(store).await, folded(&all));
        assert_eq!(store.rebuild_rollups().await.unwrap().records, 120, "the raw records agree");
        assert_eq!(stored_rollups(store).await, folded(&all));
    }

    async fn keys_and_names_holding_tabs_newlines_and_backslashes_are_stored_as_sent(app) {
        // Arrange
        let store = &app.store;
        let ids = ["tab\there", "line\nbreak", "cr\r\nlf", "back\\slash", "\\N", "\\.", "ünïcödé"];
        let stamped = test_now() - Duration::minutes(3);
        let mut records: Vec<NewUsageRecord> = ids.iter().map(|i| usage_of("acme", i, stamped, "f\\\tg\n", "0.5")).collect();
        records[0].key.source = "src\t\\".into();
        records[1].event_type = "type\n\\x".into();
        // Act
        let inserted = store.insert_usage(&records, test_now()).await.unwrap();
        let again = store.insert_usage(&records, test_now()).await.unwrap();
        // Assert
        assert_eq!(inserted, vec![InsertOutcome::Inserted; ids.len()]);
        let hashes: Vec<InsertOutcome> = records.iter().map(|r| InsertOutcome::Existing(r.content_hash)).collect();
        assert_eq!(again, hashes, "each key is found again as sent");
        let mut sampled = store.sample_record_ids(&id("acme"), stamped, test_now(), 100).await.unwrap();
        sampled.sort();
        let mut expected: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        expected.sort();
        assert_eq!(sampled, expected);
        assert_eq!(stored_rollups(store).await, folded(&records), "the function name is stored as sent");
    }

    async fn a_group_large_enough_to_be_copied_stores_every_value_as_a_small_group_does(app) {
        // Arrange: 100 records (PostgreSQL streams groups of 64 or more with `COPY`), odd
        // scales, instants finer than a microsecond, text to escape; and the same values in
        // groups of one (a plain insert) under other ids
        let store = &app.store;
        let memories = ["1.500", "0.000000001", "123456789012.5", "0", "7"];
        let value = |prefix: &str, i: usize| {
            let at = test_now() - Duration::minutes(30) - Duration::nanoseconds(1 + i as i64 * 997);
            let function = if i % 7 == 0 { "f\\\tg" } else { "f" };
            usage_of("acme", &format!("{prefix}-{i}"), at, function, memories[i % memories.len()])
        };
        let copied: Vec<NewUsageRecord> = (0..100).map(|i| value("c", i)).collect();
        let single: Vec<NewUsageRecord> = (0..100).map(|i| value("s", i)).collect();
        // Act
        store.insert_usage(&copied, test_now()).await.unwrap();
        for record in &single {
            store.insert_usage(std::slice::from_ref(record), test_now()).await.unwrap();
        }
        // Assert: each value as sent (to the microsecond), and a copied record's stored text
        // exactly that of its single twin (same scale)
        let from = test_now() - Duration::hours(1);
        let stored = store.sample_records(&id("acme"), from, test_now(), 1000).await.unwrap();
        assert_eq!(stored.len(), 200);
        let read = |id: &str| {
            let found = stored.iter().find(|s| s.record_id == id).expect("stored");
            (found.timestamp.timestamp_micros(), found.function.clone(), found.quantities.memory_gb_seconds)
        };
        for (c, s) in copied.iter().zip(&single) {
            let sent = (c.timestamp.timestamp_micros(), c.function.clone(), c.quantities.memory_gb_seconds);
            assert_eq!(read(&c.key.record_id), sent, "{} reads back as sent", c.key.record_id);
            let (copied_text, single_text) =
                (read(&c.key.record_id).2.to_string(), read(&s.key.record_id).2.to_string());
            assert_eq!(copied_text, single_text, "{} is stored as its twin is", c.key.record_id);
        }
        let again = store.insert_usage(&copied, test_now()).await.unwrap();
        let hashes: Vec<InsertOutcome> = copied.iter().map(|r| InsertOutcome::Existing(r.content_hash)).collect();
        assert_eq!(again, hashes, "each copied key is found again with the hash it was stored with");
    }

    async fn an_instant_finer_than_a_microsecond_is_cut_so_the_record_stays_in_its_bucket(app) {
        // Arrange
        let store = &app.store;
        let bucket_end = at("2026-11-27T11:45:00Z");
        let last_nanosecond = usage_of("acme", "n", bucket_end - Duration::nanoseconds(1), "f", "1");
        // Act
        store.insert_usage(std::slice::from_ref(&last_nanosecond), test_now()).await.unwrap();
        let written = stored_rollups(store).await;
        store.rebuild_rollups().await.unwrap();
        // Assert
        assert_eq!(written[0].0.bucket_start, at("2026-11-27T11:30:00Z"));
        assert_eq!(stored_rollups(store).await, written, "the stored instant rolls up to the same bucket");
    }

    async fn a_group_across_a_month_boundary_answers_each_record_in_the_order_given(app) {
        // Arrange
        let store = &app.store;
        let written_at = at("2026-12-01T00:10:00Z");
        let november = |i: &str| usage_of("acme", i, at("2026-11-30T23:50:00Z"), "f", "1");
        let december = |i: &str| usage_of("acme", i, at("2026-12-01T00:05:00Z"), "f", "2");
        store.insert_usage(&[december("d0"), november("n0")], written_at).await.unwrap();
        let group = [december("d1"), november("n0"), december("d0"), november("n1"), december("d2")];
        // Act
        let outcomes = store.insert_usage(&group, written_at).await.unwrap();
        // Assert
        let (new, old) = (InsertOutcome::Inserted, |r: &NewUsageRecord| InsertOutcome::Existing(r.content_hash));
        assert_eq!(outcomes, vec![new, old(&group[1]), old(&group[2]), new, new]);
        let stored = [december("d0"), november("n0"), december("d1"), november("n1"), december("d2")];
        assert_eq!(stored_rollups(store).await, folded(&stored));
    }
}
