//! The engine itself (`kind`, `ping`) and the `tenant` table.

use chrono::Duration;

use super::{dec, id, tenant};
use crate::both_stores;
use crate::helpers::{operator, test_now};
use tally::domain::{LateUsagePolicy, Tenant, TenantPatch};
use tally::store::{DbError, StoreKind};

both_stores! {
    async fn the_store_names_its_engine_and_answers_a_ping(app) {
        // Arrange
        let expected = if app.database.pg_name.is_some() { StoreKind::Postgres } else { StoreKind::Sqlite };
        // Act
        let kind = app.store.kind();
        let ping = app.store.ping().await;
        // Assert
        assert_eq!(kind, expected);
        assert!(ping.is_ok(), "{ping:?}");
    }

    async fn a_created_tenant_reads_back_exactly_and_its_id_is_unique(app) {
        // Arrange
        let store = &app.store;
        let mut new = tenant("acme");
        new.details.tax_rate = dec("7.125");
        new.details.billing_emails = vec!["a@b.test".into(), "c@d.test".into()];
        // Act
        let created = store.create_tenant(&new, test_now(), &operator()).await.unwrap();
        let again = store.create_tenant(&tenant("acme"), test_now(), &operator()).await;
        // Assert
        let read = store.get_tenant(&id("acme")).await.unwrap().expect("the tenant exists");
        assert_eq!(read, created);
        assert_eq!((read.id.as_str(), &read.details), ("acme", &new.details));
        assert_eq!(read.details.tax_rate.to_string(), "7.125", "the tax rate keeps its digits");
        assert!(read.active);
        assert_eq!((read.created_at, read.updated_at), (test_now(), test_now()));
        assert!(matches!(again, Err(DbError::AlreadyExists)), "{again:?}");
        assert!(store.get_tenant(&id("nobody")).await.unwrap().is_none());
    }

    async fn a_patch_changes_exactly_the_fields_it_names(app) {
        // Arrange
        let store = &app.store;
        store.create_tenant(&tenant("acme"), test_now(), &operator()).await.unwrap();
        let later = test_now() + Duration::hours(1);
        let patch = TenantPatch {
            name: Some("Renamed".into()),
            billing_emails: Some(vec!["x@y.test".into()]),
            timezone: Some(chrono_tz::Tz::America__New_York),
            tax_rate: Some(dec("0.001")),
            address: Some(vec!["9 Other St".into(), "Springfield".into()]),
            tax_id: Some("DE123".into()),
            late_usage_policy: Some(LateUsagePolicy::Reject),
            payment_terms: Some(tally::domain::PaymentTerms::parse("30d").unwrap()),
            active: Some(false),
        };
        // Act
        let patched = store.update_tenant(&id("acme"), patch, later, &operator()).await.unwrap().unwrap();
        let empty = store.update_tenant(&id("acme"), TenantPatch::default(), later + Duration::hours(1), &operator()).await.unwrap();
        let missing = store.update_tenant(&id("nobody"), TenantPatch::default(), later, &operator()).await.unwrap();
        // Assert
        let d = &patched.details;
        assert_eq!((d.name.as_str(), d.billing_emails.as_slice()), ("Renamed", ["x@y.test".to_owned()].as_slice()));
        assert_eq!((d.timezone, d.tax_rate, d.address.len()), (chrono_tz::Tz::America__New_York, dec("0.001"), 2));
        assert_eq!((d.tax_id.as_str(), d.late_usage_policy), ("DE123", LateUsagePolicy::Reject));
        assert_eq!(d.payment_terms.map(|t| t.to_string()).as_deref(), Some("30d"));
        assert_eq!((patched.active, patched.created_at, patched.updated_at), (false, test_now(), later));
        let empty = empty.expect("the tenant exists");
        assert_eq!(empty.details, patched.details, "an empty patch changes no detail");
        assert_eq!(empty.updated_at, later + Duration::hours(1), "an empty patch still stamps updated_at");
        assert_eq!(store.get_tenant(&id("acme")).await.unwrap(), Some(empty));
        assert!(missing.is_none());
    }

    async fn tenants_are_listed_by_id_in_pages_after_a_cursor(app) {
        // Arrange
        let store = &app.store;
        for name in ["d", "b", "e", "a", "c"] {
            store.create_tenant(&tenant(name), test_now(), &operator()).await.unwrap();
        }
        let page = |after: Option<&'static str>, limit| async move {
            let after = after.map(id);
            let tenants = store.list_tenants(after.as_ref(), limit).await.unwrap();
            tenants.into_iter().map(|t| t.id.to_string()).collect::<Vec<_>>()
        };
        // Act
        let cases = [
            (None, 2, vec!["a", "b"], "the first page"),
            (Some("b"), 2, vec!["c", "d"], "the page after the last id of the first"),
            (Some("d"), 2, vec!["e"], "a short last page"),
            (Some("e"), 2, vec![], "after the last tenant"),
            (Some("bb"), 10, vec!["c", "d", "e"], "a cursor between ids"),
            (None, 0, vec![], "a zero limit"),
        ];
        // Assert
        for (after, limit, expected, description) in cases {
            assert_eq!(page(after, limit).await, expected, "{description}");
        }
    }

    async fn tenant_ids_list_in_byte_order_on_both_engines(app) {
        // Arrange: '-' < digits < '_' < letters in bytes; a linguistic collation (PostgreSQL
        // initialised with en_US, the Docker image's default) sorts them otherwise.
        let store = &app.store;
        for name in ["ab", "a_c", "a-b", "a0", "aa", "a-a"] {
            store.create_tenant(&tenant(name), test_now(), &operator()).await.unwrap();
        }
        // Act
        let all = store.list_tenants(None, 10).await.unwrap();
        let after = store.list_tenants(Some(&id("a0")), 10).await.unwrap();
        // Assert
        let ids = |tenants: Vec<Tenant>| tenants.into_iter().map(|t| t.id.to_string()).collect::<Vec<_>>();
        assert_eq!(ids(all), ["a-a", "a-b", "a0", "a_c", "aa", "ab"]);
        assert_eq!(ids(after), ["a_c", "aa", "ab"], "the cursor compares in the same order");
    }
}

/// The same listing on a PostgreSQL database created with a linguistic (ICU `en-US`)
/// collation, where text sorts '-' and '_' as near-ignorable: ids still list in byte order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_ids_list_in_byte_order_on_a_postgres_database_with_a_linguistic_locale() {
    use sqlx::Executor;
    // Arrange
    let name = format!("tally_icu_{}", uuid::Uuid::new_v4().simple());
    let mut admin = crate::helpers::pg_admin().await;
    let create = format!(
        r#"create database "{name}" template template0 locale_provider icu icu_locale 'en-US' locale 'C.UTF-8'"#
    );
    admin.execute(create.as_str()).await.unwrap();
    let url = format!("{}/{name}", crate::helpers::pg_server_url());
    let store = tally::store::open_store(&url, 2).await.unwrap();
    for tenant_name in ["ab", "a_c", "a-b", "a0", "aa", "a-a"] {
        store.create_tenant(&tenant(tenant_name), test_now(), &operator()).await.unwrap();
    }
    // Act
    let all = store.list_tenants(None, 10).await.unwrap();
    let after = store.list_tenants(Some(&id("a0")), 10).await.unwrap();
    drop(store);
    admin.execute(format!(r#"drop database "{name}" with (force)"#).as_str()).await.unwrap();
    // Assert
    let ids = |tenants: Vec<Tenant>| tenants.into_iter().map(|t| t.id.to_string()).collect::<Vec<_>>();
    assert_eq!(ids(all), ["a-a", "a-b", "a0", "a_c", "aa", "ab"]);
    assert_eq!(ids(after), ["a_c", "aa", "ab"], "the cursor compares in the same order");
}
