//! Exactly-once ingestion of native usage records.

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_stores;
use crate::helpers::record;

fn batch(tenant: &str, prefix: &str, n: usize) -> Value {
    json!({ "records": (0..n).map(|i| record(tenant, &format!("{prefix}-{i}"))).collect::<Vec<_>>() })
}

/// A record of `tenant`'s `id` at `seconds` after October 30 (the accepted window reaches back
/// to October 23, so records span two monthly partitions).
fn usage_at_second(tenant: &str, id: &str, seconds: i64, invocations: u64) -> Value {
    let at = crate::billing::at("2026-10-30T00:00:00Z") + chrono::Duration::seconds(seconds);
    json!({"id": id, "tenant_id": tenant, "timestamp": at.to_rfc3339(), "invocations": invocations})
}

async fn deactivate(app: &crate::helpers::TestApp, tenant: &str) {
    let patch = app.client.patch(format!("{}/v1/tenants/{tenant}", app.address)).bearer_auth(&app.admin_key);
    let response = patch.json(&json!({"active": false})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "deactivating {tenant}");
}

both_stores! {
    async fn a_batch_replayed_many_times_is_counted_once(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        let body = batch("acme", "r", 250);
        // Act
        let first: Value = app.post_usage(&body).await.json().await.unwrap();
        let mut replies = Vec::new();
        for _ in 0..5 {
            let response = app.post_usage(&body).await;
            assert_eq!(response.status(), StatusCode::OK);
            replies.push(response.json::<Value>().await.unwrap());
        }
        // Assert
        assert_eq!(first, json!({"accepted": 250, "duplicates": 0, "rejected": 0, "errors": []}));
        for reply in replies {
            assert_eq!(reply, json!({"accepted": 0, "duplicates": 250, "rejected": 0, "errors": []}));
        }
        let usage = app.get_json("/v1/tenants/acme/usage?granularity=month").await;
        let bucket = &usage["buckets"][0];
        assert_eq!(bucket["records"], 250);
        assert_eq!(bucket["invocations"], "250");
        assert_eq!(bucket["memory_gb_seconds"], "62.5");
        assert_eq!(bucket["cpu_cycles"], (1_843_200_000_u64 * 250).to_string());
    }

    async fn a_bad_record_is_reported_by_its_index_in_small_and_large_batches_alike(app) {
        // Arrange: one batch parsed on the HTTP worker (3 records), one on the blocking pool (400)
        app.create_tenant("acme", "UTC").await;
        for (prefix, n) in [("small", 3_usize), ("large", 400)] {
            let mut body = batch("acme", prefix, n);
            body["records"][n - 2]["timestamp"] = json!("2026-12-01T23:59:60Z");
            // Act
            let response = app.post_usage(&body).await;
            // Assert
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{prefix}");
            let reply: Value = response.json().await.unwrap();
            assert_eq!((reply["accepted"].as_u64(), reply["rejected"].as_u64()), (Some(n as u64 - 1), Some(1)));
            assert_eq!(reply["errors"][0]["index"], n - 2, "{prefix}: {reply}");
        }
    }

    async fn a_quantity_is_its_value_however_json_spells_it(app) {
        // Arrange: five invocations and 0.25 GB-s, spelled three ways
        app.create_tenant("acme", "UTC").await;
        let spelled = |invocations: &str, memory: &str| {
            format!(r#"{{"id": "q1", "tenant_id": "acme", "timestamp": "2026-11-27T11:00:00Z",
                "invocations": {invocations}, "memory_gb_seconds": {memory}}}"#)
        };
        // Act
        let first: Value = app.post_usage_raw(spelled("5", "0.25")).await.json().await.unwrap();
        let again: Value = app.post_usage_raw(spelled("5.0", "2.5e-1")).await.json().await.unwrap();
        let once_more: Value = app.post_usage_raw(spelled("5e0", "\"0.250\"")).await.json().await.unwrap();
        let fraction = app.post_usage_raw(spelled("5.5", "0.25").replace("q1", "q2")).await;
        // Assert
        assert_eq!(first["accepted"], 1);
        assert_eq!((again["duplicates"].as_u64(), once_more["duplicates"].as_u64()), (Some(1), Some(1)), "the same content");
        assert_eq!(fraction.status(), StatusCode::UNPROCESSABLE_ENTITY, "5.5 invocations is not a whole number");
        let usage = app.get_json("/v1/tenants/acme/usage?granularity=month").await;
        assert_eq!((usage["buckets"][0]["invocations"].as_str(), usage["buckets"][0]["memory_gb_seconds"].as_str()), (Some("5"), Some("0.25")));
    }

    async fn a_batch_replayed_concurrently_is_counted_once(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        let body = batch("acme", "c", 200);
        // Act: 12 clients post the same batch at once, plus overlapping halves.
        let posts = (0..12).map(|_| app.post_usage(&body));
        let replies: Vec<Value> = join_all(join_all(posts).await.into_iter().map(|r| async move {
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()
        }))
        .await;
        // Assert
        let accepted: u64 = replies.iter().map(|r| r["accepted"].as_u64().unwrap()).sum();
        let duplicates: u64 = replies.iter().map(|r| r["duplicates"].as_u64().unwrap()).sum();
        assert_eq!(accepted, 200, "every record is accepted exactly once across all clients");
        assert_eq!(duplicates, 11 * 200);
        let usage = app.get_json("/v1/tenants/acme/usage?granularity=month").await;
        assert_eq!(usage["buckets"][0]["records"], 200);
        assert_eq!(usage["buckets"][0]["invocations"], "200");
    }

    async fn the_same_key_with_other_content_is_a_conflict_and_the_original_stays(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        app.post_usage(&record("acme", "k1")).await;
        let mut changed = record("acme", "k1");
        changed["invocations"] = json!(5);
        // Act
        let response = app.post_usage(&changed).await;
        // Assert
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "some_records_rejected");
        assert_eq!(body["errors"][0]["index"], 0);
        assert_eq!(body["errors"][0]["code"], "conflicting_duplicate");
        let usage = app.get_json("/v1/tenants/acme/usage?granularity=month").await;
        assert_eq!(usage["buckets"][0]["invocations"], "1", "the original record is neither overwritten nor added to");
    }

    async fn the_same_key_twice_in_one_request_keeps_the_first(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        let mut other = record("acme", "k1");
        other["invocations"] = json!(7);
        let body = json!({ "records": [record("acme", "k1"), record("acme", "k1"), other] });
        // Act
        let response = app.post_usage(&body).await;
        // Assert
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        assert_eq!((body["accepted"].clone(), body["duplicates"].clone(), body["rejected"].clone()), (json!(1), json!(1), json!(1)));
        assert_eq!(body["errors"][0]["index"], 2);
        assert_eq!(body["errors"][0]["code"], "conflicting_duplicate");
    }

    async fn equal_content_written_differently_is_a_duplicate(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        let original = json!({"id": "n1", "tenant_id": "acme", "timestamp": "2026-11-27T11:00:00Z",
            "memory_gb_seconds": "0.250", "invocations": 1});
        let rewritten = json!({"id": "n1", "tenant_id": "acme", "timestamp": "2026-11-27T12:00:00+01:00",
            "memory_gb_seconds": 0.25, "invocations": 1, "cpu_cycles": 0});
        // Act
        app.post_usage(&original).await;
        let reply: Value = app.post_usage(&rewritten).await.json().await.unwrap();
        // Assert
        assert_eq!(reply["duplicates"], 1, "{reply}");
    }

    async fn rollups_equal_a_rebuild_from_raw_records(app) {
        // Arrange: records across buckets, functions, regions and tenants.
        app.create_tenant("acme", "UTC").await;
        app.create_tenant("globex", "Asia/Kolkata").await;
        let mut records = Vec::new();
        for i in 0..300 {
            let tenant = if i % 3 == 0 { "globex" } else { "acme" };
            let minute = i % 600;
            records.push(json!({
                "id": format!("x{i}"), "tenant_id": tenant,
                "timestamp": format!("2026-11-27T{:02}:{:02}:00Z", minute / 60, minute % 60),
                "function": format!("fn{}", i % 4), "region": if i % 2 == 0 { "eu" } else { "us" },
                "memory_gb_seconds": format!("0.{:03}", i), "invocations": i + 1
            }));
        }
        let reply = app.post_usage(&json!({ "records": records })).await;
        assert_eq!(reply.status(), StatusCode::OK);
        let before = (app.rollups_of("acme").await, app.rollups_of("globex").await);
        // Act
        let seen = std::sync::Mutex::new(Vec::new());
        let report = app.store.rebuild_rollups_reporting(|read, total| seen.lock().unwrap().push((read, total))).await.unwrap();
        // Assert
        assert_eq!(report.records, 300);
        assert_eq!(seen.into_inner().unwrap().last(), Some(&(300, 300)), "progress ends at every record read");
        assert_eq!((app.rollups_of("acme").await, app.rollups_of("globex").await), before);
        assert!(!before.0.is_empty() && !before.1.is_empty());
    }

    async fn tenth_strings_add_up_exactly(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        let records: Vec<Value> = (0..10)
            .map(|i| json!({"id": format!("t{i}"), "tenant_id": "acme", "timestamp": "2026-11-27T11:00:00Z",
                "memory_gb_seconds": "0.1"}))
            .collect();
        // Act
        app.post_usage(&json!({ "records": records })).await;
        // Assert
        let usage = app.get_json("/v1/tenants/acme/usage?granularity=month").await;
        assert_eq!(usage["buckets"][0]["memory_gb_seconds"], "1");
    }

    async fn a_large_retry_to_deactivated_tenants_counts_exactly_the_records_stored_as_sent(app) {
        // Arrange: acme stored 900 records 40 minutes apart (25 days) and beta 100 of the same
        // ids; then both were deactivated. ghost never existed.
        app.create_tenant("acme", "UTC").await;
        app.create_tenant("beta", "UTC").await;
        let sent = |tenant: &str, i: i64| usage_at_second(tenant, &format!("s-{i}"), 2_400 * i, 1);
        for stored in [(0..900).map(|i| sent("acme", i)).collect::<Vec<_>>(), (0..100).map(|i| sent("beta", i)).collect()] {
            let reply = app.post_usage(&json!({ "records": stored })).await;
            assert_eq!(reply.status(), StatusCode::OK, "{}", reply.text().await.unwrap());
        }
        deactivate(&app, "acme").await;
        deactivate(&app, "beta").await;
        // Act: the runtime retries 3 000 records, the tenants' records interleaved: acme's
        // stored ones, a third as sent, a third with other content, a third a second later;
        // 1 800 acme never stored; beta's stored ones as sent, and 100 ids only acme stored;
        // 100 for ghost. Each with what it should be: a duplicate (None), or refused, saying why.
        let deactivated = |tenant: &str| Some(format!("tenant {tenant:?} is deactivated: it takes no new usage"));
        let mut cases: Vec<(Value, Option<String>)> = (0..900)
            .map(|i| match i % 3 {
                0 => (sent("acme", i), None),
                1 => (usage_at_second("acme", &format!("s-{i}"), 2_400 * i, 2), deactivated("acme")),
                _ => (usage_at_second("acme", &format!("s-{i}"), 2_400 * i + 1, 1), deactivated("acme")),
            })
            .collect();
        cases.extend((0..1_800).map(|i| (usage_at_second("acme", &format!("n-{i}"), 60 * i, 1), deactivated("acme"))));
        cases.extend((0..200).map(|i| (sent("beta", i), if i < 100 { None } else { deactivated("beta") })));
        cases.extend((0..100).map(|i| (sent("ghost", i), Some(r#"unknown tenant "ghost""#.to_owned()))));
        // 1 093 is prime to 3 000: a fixed shuffle, so no tenant's records come in one run and
        // answers given back in the store's order (by tenant) instead of the request's would show.
        let cases: Vec<_> = (0..3_000).map(|i| cases[i * 1_093 % 3_000].clone()).collect();
        let records: Vec<&Value> = cases.iter().map(|(record, _)| record).collect();
        let response = app.post_usage(&json!({ "records": records })).await;
        // Assert: a duplicate exactly where key, instant and content are stored; every other
        // record refused by its index, a deactivated tenant said to be so.
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body: Value = response.json().await.unwrap();
        let counts = (body["accepted"].as_u64(), body["duplicates"].as_u64(), body["rejected"].as_u64());
        assert_eq!(counts, (Some(0), Some(300 + 100), Some(2_600)));
        let expected: Vec<(usize, &str, String)> = cases
            .iter()
            .enumerate()
            .filter_map(|(index, (_, refusal))| Some((index, "unknown_tenant", refusal.clone()?)))
            .collect();
        let errors: Vec<(usize, &str, String)> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["index"].as_u64().unwrap() as usize, e["code"].as_str().unwrap(), e["message"].as_str().unwrap().to_owned()))
            .collect();
        assert_eq!(errors, expected);
        let usage = app.get_json("/v1/tenants/acme/usage?granularity=month&from=2026-10-01T00:00:00Z&to=2026-12-01T00:00:00Z").await;
        let kept: Vec<u64> = usage["buckets"].as_array().unwrap().iter().map(|b| b["records"].as_u64().unwrap()).collect();
        assert_eq!(kept.iter().sum::<u64>(), 900, "nothing of the retry was stored: {kept:?}");
    }
}
