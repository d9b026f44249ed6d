//! The `Store` contract, checked directly against both implementations.

use chrono::Duration;
use rust_decimal::Decimal;

use crate::both_stores;
use crate::helpers::test_now;
use tally::aggregate::fold_records;
use tally::auth::{issue_api_key, key_id_of, Principal, Role};
use tally::domain::{
    ContentHash, LateUsagePolicy, NewTenant, NewUsageRecord, Quantities, RecordKey, TenantDetails, TenantId,
    TenantPatch,
};
use tally::store::{DbError, IdempotencyStart, InsertOutcome, StoredResponse};

fn tenant(id: &str) -> NewTenant {
    NewTenant {
        id: TenantId::parse(id).unwrap(),
        details: TenantDetails {
            name: format!("Tenant {id}"),
            billing_emails: vec!["a@b.test".into()],
            timezone: chrono_tz::Tz::Asia__Kolkata,
            tax_rate: Decimal::new(8875, 3),
            address: vec!["1 Main St".into()],
            tax_id: String::new(),
            late_usage_policy: LateUsagePolicy::NextInvoice,
        },
    }
}

fn usage(id: &str, minutes: i64, memory: &str) -> NewUsageRecord {
    let quantities =
        Quantities { memory_gb_seconds: memory.parse().unwrap(), invocations: Decimal::ONE, ..Default::default() };
    let timestamp = test_now() - Duration::minutes(minutes);
    NewUsageRecord {
        key: RecordKey { tenant_id: TenantId::parse("acme").unwrap(), source: String::new(), record_id: id.into() },
        timestamp,
        function: "f".into(),
        region: String::new(),
        quantities,
        event_type: String::new(),
        content_hash: ContentHash::of(Some(timestamp), "f", "", &quantities),
    }
}

both_stores! {
    async fn inserts_report_existing_keys_with_their_stored_hash_and_roll_up_only_new_rows(app) {
        // Arrange
        let store = &app.store;
        store.create_tenant(&tenant("acme"), test_now()).await.unwrap();
        let first = [usage("a", 1, "0.1"), usage("b", 20, "0.2")];
        // Act
        let inserted = store.insert_usage(&first, test_now()).await.unwrap();
        let again = [usage("a", 1, "0.9"), usage("c", 1, "0.3")];
        let second = store.insert_usage(&again, test_now()).await.unwrap();
        // Assert
        assert_eq!(inserted, vec![InsertOutcome::Inserted, InsertOutcome::Inserted]);
        assert_eq!(second, vec![InsertOutcome::Existing(first[0].content_hash), InsertOutcome::Inserted]);
        let expected = fold_records(first.iter().chain(std::iter::once(&again[1]))).unwrap();
        let stored = store.all_rollups(&TenantId::parse("acme").unwrap()).await.unwrap();
        let stored: Vec<_> = stored.into_iter().map(|r| (r.key, r.totals)).collect();
        assert_eq!(stored, expected.into_iter().collect::<Vec<_>>());
    }

    async fn tenants_are_unique_patchable_and_paged_by_id(app) {
        let store = &app.store;
        for id in ["c", "a", "b"] {
            store.create_tenant(&tenant(id), test_now()).await.unwrap();
        }
        assert!(matches!(store.create_tenant(&tenant("a"), test_now()).await, Err(DbError::AlreadyExists)));
        let patch = TenantPatch { name: Some("Renamed".into()), active: Some(false), ..Default::default() };
        let later = test_now() + Duration::hours(1);
        let patched = store.update_tenant(&TenantId::parse("b").unwrap(), patch, later).await.unwrap().unwrap();
        assert_eq!((patched.details.name.as_str(), patched.active, patched.updated_at), ("Renamed", false, later));
        assert_eq!(patched.details.tax_rate, Decimal::new(8875, 3), "untouched fields survive a patch");
        let page = store.list_tenants(None, 2).await.unwrap();
        let next = store.list_tenants(Some(&page[1].id), 2).await.unwrap();
        let ids: Vec<&str> = page.iter().chain(&next).map(|t| t.id.as_str()).collect();
        assert_eq!(ids, vec!["a", "b", "c"]);
        assert!(store.update_tenant(&TenantId::parse("zz").unwrap(), TenantPatch::default(), later).await.unwrap().is_none());
    }

    async fn api_keys_are_stored_hashed_and_revoked_once(app) {
        let store = &app.store;
        let principal = Principal::new(Role::Ingest, Some(TenantId::parse("acme").unwrap()), "x").unwrap();
        let plaintext = issue_api_key(store, &principal, test_now()).await.unwrap();
        let key_id = key_id_of(&plaintext);
        let stored = store.get_api_key(&key_id).await.unwrap().unwrap();
        assert_eq!(stored.role, "ingest");
        assert_eq!(stored.tenant.as_ref().map(TenantId::as_str), Some("acme"));
        assert!(!hex_contains(&stored.secret_hash, &plaintext), "the plaintext is never stored");
        assert!(store.revoke_api_key(&key_id, test_now()).await.unwrap());
        assert!(!store.revoke_api_key(&key_id, test_now()).await.unwrap(), "a second revoke changes nothing");
        assert!(store.get_api_key(&key_id).await.unwrap().unwrap().revoked_at.is_some());
    }

    async fn idempotency_keys_claim_replay_and_refuse_other_requests(app) {
        let store = &app.store;
        let start = |hash: &'static [u8]| store.start_idempotent("admin", "k", hash, test_now());
        assert_eq!(start(b"one").await.unwrap(), IdempotencyStart::Claimed);
        assert_eq!(start(b"one").await.unwrap(), IdempotencyStart::InFlight);
        assert_eq!(start(b"two").await.unwrap(), IdempotencyStart::Mismatch);
        let response = StoredResponse { status: 201, body: b"{}".to_vec() };
        store.finish_idempotent("admin", "k", &response).await.unwrap();
        assert_eq!(start(b"one").await.unwrap(), IdempotencyStart::Replay(response));
        assert_eq!(store.start_idempotent("admin", "other", b"x", test_now()).await.unwrap(), IdempotencyStart::Claimed);
        store.abandon_idempotent("admin", "other").await.unwrap();
        assert_eq!(store.start_idempotent("admin", "other", b"y", test_now()).await.unwrap(), IdempotencyStart::Claimed);
    }
}

fn hex_contains(hash: &[u8; 32], plaintext: &str) -> bool {
    plaintext.contains(&hex::encode(hash))
}
