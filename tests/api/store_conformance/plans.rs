//! `plan_version` and `subscription`.

use chrono::Duration;

use super::{at, id, tenant};
use crate::both_stores;
use crate::helpers::{operator, test_now};
use tally::domain::SubscriptionChange;
use tally::store::NewPlanVersion;

fn version<'a>(plan_id: &'a str, content_hash: &'a str) -> NewPlanVersion<'a> {
    NewPlanVersion { plan_id, content_hash, definition: content_hash, currency: "USD" }
}

/// `plan_id` from the first of `month` 2026.
fn change(month: u32, plan_id: &str) -> SubscriptionChange {
    SubscriptionChange::to_plan(first_of(month), plan_id)
}

fn first_of(month: u32) -> chrono::DateTime<chrono::Utc> {
    at(&format!("2026-{month:02}-01T00:00:00Z"))
}

both_stores! {
    async fn a_plan_gets_a_new_version_only_when_its_newest_hash_changes(app) {
        // Arrange
        let store = &app.store;
        let hour = |h| test_now() + Duration::hours(h);
        let steps = [
            ("conf", "h1", 1, (1, true), "the first version"),
            ("conf", "h1", 2, (1, false), "the same hash"),
            ("conf", "h2", 3, (2, true), "a new hash"),
            ("conf", "h1", 4, (3, true), "an older hash again"),
            ("conf-b", "h1", 5, (1, true), "another plan"),
        ];
        for (plan, hash, h, expected, description) in steps {
            // Act
            let got = store.record_plan_version(&version(plan, hash), hour(h)).await.unwrap();
            // Assert
            assert_eq!(got, expected, "{description}");
        }
        let stored: Vec<_> = store
            .plan_versions()
            .await
            .unwrap()
            .into_iter()
            .filter(|v| v.plan_id.starts_with("conf"))
            .map(|v| (v.plan_id, v.version, v.content_hash, v.definition, v.created_at))
            .collect();
        let expected = [("conf", 1, "h1", 1), ("conf", 2, "h2", 3), ("conf", 3, "h1", 4), ("conf-b", 1, "h1", 5)]
            .map(|(p, v, h, t)| (p.to_owned(), v, h.to_owned(), h.to_owned(), hour(t)));
        assert_eq!(stored, expected, "ordered by plan, then version; a same-hash call stores nothing");
    }

    async fn a_subscription_change_replaces_changes_at_or_after_its_instant(app) {
        // Arrange
        let store = &app.store;
        let (acme, beta) = (id("acme"), id("beta"));
        for t in ["acme", "beta"] {
            store.create_tenant(&tenant(t), test_now(), &operator()).await.unwrap();
        }
        for c in [change(1, "basic"), change(3, "team"), change(5, "pro")] {
            store.change_subscription(&acme, &c, test_now(), &operator()).await.unwrap();
        }
        store.change_subscription(&beta, &change(4, "basic"), test_now(), &operator()).await.unwrap();
        // Act
        store.change_subscription(&acme, &change(3, "enterprise"), test_now(), &operator()).await.unwrap();
        let ended = SubscriptionChange::end(first_of(6), first_of(6));
        store.change_subscription(&acme, &ended, test_now(), &operator()).await.unwrap();
        // Assert
        let expected = vec![change(1, "basic"), change(3, "enterprise"), ended];
        assert_eq!(store.subscriptions(&acme).await.unwrap(), expected, "ordered by effective_at; March on replaced");
        assert_eq!(store.subscriptions(&beta).await.unwrap(), vec![change(4, "basic")], "other tenants are untouched");
        assert!(store.subscriptions(&id("nobody")).await.unwrap().is_empty());
    }

    async fn a_change_before_every_scheduled_change_replaces_them_all(app) {
        // Arrange
        let store = &app.store;
        store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
        for c in [change(3, "team"), change(5, "pro")] {
            store.change_subscription(&id("acme"), &c, test_now(), &operator()).await.unwrap();
        }
        // Act
        store.change_subscription(&id("acme"), &change(2, "basic"), test_now(), &operator()).await.unwrap();
        // Assert
        assert_eq!(store.subscriptions(&id("acme")).await.unwrap(), vec![change(2, "basic")]);
    }
}
