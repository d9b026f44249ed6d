//! `api_key` and `idempotency`: who may call, and at most one execution per request.

use chrono::Duration;

use super::id;
use crate::both_stores;
use crate::helpers::{operator, test_now};
use tally::auth::{issue_api_key, key_id_of, Principal, Role};
use tally::store::{IdempotencyStart, StoredApiKey, StoredResponse};

fn stored_key(key_id: &str, minutes_later: i64) -> StoredApiKey {
    StoredApiKey {
        key_id: key_id.into(),
        secret_hash: [7; 32],
        role: "admin".into(),
        tenant: None,
        created_at: test_now() + Duration::minutes(minutes_later),
        revoked_at: None,
    }
}

both_stores! {
    async fn api_keys_are_stored_hashed_and_revoked_once(app) {
        // Arrange
        let store = &app.store;
        let principal = Principal::new(Role::Ingest, Some(id("acme")), "x").unwrap();
        // Act
        let plaintext = issue_api_key(store, &principal, test_now(), &operator()).await.unwrap();
        let key_id = key_id_of(&plaintext);
        let stored = store.get_api_key(&key_id).await.unwrap().unwrap();
        let first = store.revoke_api_key(&key_id, test_now(), &operator()).await.unwrap();
        let second = store.revoke_api_key(&key_id, test_now() + Duration::hours(1), &operator()).await.unwrap();
        // Assert
        assert_eq!(stored.role, "ingest");
        assert_eq!(stored.tenant.as_ref().map(|t| t.as_str()), Some("acme"));
        assert!(!plaintext.contains(&hex::encode(stored.secret_hash)), "the plaintext is never stored");
        assert!(first);
        assert!(!second, "a second revoke changes nothing");
        let revoked = store.get_api_key(&key_id).await.unwrap().unwrap();
        assert_eq!(revoked.revoked_at, Some(test_now()), "the first revocation's instant is kept");
        assert!(store.get_api_key("no-such-key").await.unwrap().is_none());
    }

    async fn api_keys_read_back_as_inserted_and_list_newest_first(app) {
        // Arrange
        let store = &app.store;
        let older = stored_key("k-older", 1);
        let newer = StoredApiKey { tenant: Some(id("acme")), role: "ingest".into(), ..stored_key("k-newer", 2) };
        // Act
        store.insert_api_key(&older, &operator()).await.unwrap();
        store.insert_api_key(&newer, &operator()).await.unwrap();
        let listed = store.list_api_keys().await.unwrap();
        // Assert
        assert_eq!(store.get_api_key("k-newer").await.unwrap(), Some(newer.clone()));
        assert_eq!(listed[..2], [newer, older], "newest first (spawn_app's own keys are older)");
        assert_eq!(listed.len(), 4, "the two keys spawn_app issued are listed too");
    }

    async fn an_idempotency_key_is_claimed_then_in_flight_then_replayed(app) {
        // Arrange
        let store = &app.store;
        let start = |hash: &'static [u8]| store.start_idempotent("admin", "k", hash, test_now());
        let response = StoredResponse { status: 201, body: br#"{"id":"x"}"#.to_vec(), location: None };
        // Act
        let claimed = start(b"one").await.unwrap();
        let in_flight = start(b"one").await.unwrap();
        let other_while_in_flight = start(b"two").await.unwrap();
        store.finish_idempotent("admin", "k", &response).await.unwrap();
        let replay = start(b"one").await.unwrap();
        let other_after_finish = start(b"two").await.unwrap();
        // Assert
        assert_eq!(claimed, IdempotencyStart::Claimed);
        assert_eq!(in_flight, IdempotencyStart::InFlight);
        assert_eq!(other_while_in_flight, IdempotencyStart::Mismatch);
        assert_eq!(replay, IdempotencyStart::Replay(response));
        assert_eq!(other_after_finish, IdempotencyStart::Mismatch);
    }

    async fn abandoning_frees_a_claim_but_never_a_finished_key(app) {
        // Arrange
        let store = &app.store;
        let response = StoredResponse { status: 200, body: b"done".to_vec(), location: Some("/v1/somewhere".into()) };
        store.start_idempotent("admin", "open", b"x", test_now()).await.unwrap();
        store.start_idempotent("admin", "done", b"x", test_now()).await.unwrap();
        store.finish_idempotent("admin", "done", &response).await.unwrap();
        // Act
        store.abandon_idempotent("admin", "open").await.unwrap();
        store.abandon_idempotent("admin", "done").await.unwrap();
        store.abandon_idempotent("admin", "never-claimed").await.unwrap();
        // Assert
        let open = store.start_idempotent("admin", "open", b"y", test_now()).await.unwrap();
        assert_eq!(open, IdempotencyStart::Claimed, "an abandoned key is free for any request");
        let done = store.start_idempotent("admin", "done", b"x", test_now()).await.unwrap();
        assert_eq!(done, IdempotencyStart::Replay(response), "abandon after finish does nothing");
    }

    async fn idempotency_keys_are_separate_per_scope(app) {
        // Arrange
        let store = &app.store;
        store.start_idempotent("tenant:acme", "k", b"x", test_now()).await.unwrap();
        // Act
        let other_scope = store.start_idempotent("tenant:beta", "k", b"y", test_now()).await.unwrap();
        // Assert
        assert_eq!(other_scope, IdempotencyStart::Claimed);
    }
}
