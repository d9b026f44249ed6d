//! The audit log (DESIGN §10, §12): every admin change appends exactly one event naming who
//! made it and what it was made to, in the change's own transaction; a refused change appends
//! none; `GET /v1/audit` filters and pages newest first; nobody can change the log.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::billing::{admin_post, at, invoices_of, run_billing_and_wait, tenant_on};
use crate::both_stores;
use crate::helpers::{execute_sql, operator, test_now, TestApp};
use tally::auth::{issue_api_key, key_id_of, Principal, Role};
use tally::domain::{Actor, TenantId};

/// An admin request with an `x-request-id` of the test's choosing.
async fn admin(app: &TestApp, method: Method, path: &str, body: Value, request_id: &str) -> reqwest::Response {
    let request = app.client.request(method, format!("{}{path}", app.address)).bearer_auth(&app.admin_key);
    request.header("x-request-id", request_id).json(&body).send().await.unwrap()
}

/// The id of the newest event (0 when there is none).
async fn newest(app: &TestApp) -> u64 {
    let page = app.get_json("/v1/audit?limit=1").await;
    page["data"][0]["id"].as_str().map_or(0, |id| id.parse().unwrap())
}

/// The events appended after event `after`, oldest first.
async fn appended_since(app: &TestApp, after: u64) -> Vec<Value> {
    let page = app.get_json("/v1/audit?limit=200").await;
    let mut events: Vec<Value> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["id"].as_str().unwrap().parse::<u64>().unwrap() > after)
        .cloned()
        .collect();
    events.reverse();
    events
}

both_stores! {
    async fn each_admin_change_appends_exactly_one_event_naming_its_actor_and_target(app) {
        // Arrange: two tenants on a plan, October billed (two invoices).
        tenant_on(&app, "acme", "UTC", "payg", "2026-10-01T00:00:00Z").await;
        tenant_on(&app, "globex", "UTC", "payg", "2026-10-01T00:00:00Z").await;
        app.clock.set(test_now());
        run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
        let (acme_invoice, globex_invoice) = (invoices_of(&app, "acme").await.remove(0), invoices_of(&app, "globex").await.remove(0));
        let (acme_id, globex_id) = (acme_invoice["id"].as_str().unwrap(), globex_invoice["id"].as_str().unwrap());
        let hook = json!({"url": "https://example.com/hook", "events": ["invoice.paid"]});
        let quotas = json!({"quotas": [{"id": "cap", "meter": "invocations", "limit": "1000"}]});
        let budgets = json!({"budgets": [{"id": "monthly", "meter": "spend", "limit": "50.00"}]});
        let credit = json!({"amount": "5.00", "currency": "USD", "reason": "goodwill"});
        // Each change, and its event: [action, target type, the target's tenant ('' for none)].
        let steps: Vec<(Method, String, Value, StatusCode, [&str; 3])> = vec![
            (Method::POST, "/v1/tenants".into(), json!({"id": "initech", "name": "Initech"}), StatusCode::CREATED, ["tenant.created", "tenant", "initech"]),
            (Method::PATCH, "/v1/tenants/initech".into(), json!({"name": "Initech Corp"}), StatusCode::OK, ["tenant.updated", "tenant", "initech"]),
            (Method::PUT, "/v1/tenants/initech/subscription".into(), json!({"plan": "payg"}), StatusCode::OK, ["subscription.changed", "subscription", "initech"]),
            (Method::POST, "/v1/tenants/initech/credits".into(), credit, StatusCode::CREATED, ["credit.granted", "credit_grant", "initech"]),
            (Method::PUT, "/v1/tenants/initech/quotas".into(), quotas, StatusCode::OK, ["quotas.replaced", "quotas", "initech"]),
            (Method::PUT, "/v1/tenants/initech/budgets".into(), budgets, StatusCode::OK, ["budgets.replaced", "budgets", "initech"]),
            (Method::POST, format!("/v1/invoices/{acme_id}/void"), json!({}), StatusCode::OK, ["invoice.voided", "invoice", "acme"]),
            (Method::POST, format!("/v1/invoices/{globex_id}/mark-paid"), json!({}), StatusCode::OK, ["invoice.paid", "invoice", "globex"]),
            (Method::POST, "/v1/webhooks".into(), hook, StatusCode::CREATED, ["webhook.created", "webhook", ""]),
            (Method::POST, "/v1/billing/run".into(), json!({}), StatusCode::ACCEPTED, ["billing_run.requested", "billing_run", ""]),
        ];
        for (i, (method, path, body, status, [action, kind, tenant])) in steps.into_iter().enumerate() {
            // Act
            let before = newest(&app).await;
            let request_id = format!("audit-step-{i}");
            let response = admin(&app, method, &path, body, &request_id).await;
            // Assert
            assert_eq!(response.status(), status, "{action}");
            assert_eq!(response.headers()["x-request-id"], request_id.as_str(), "{action}: the id is echoed");
            let answer: Value = response.json().await.unwrap();
            let events = appended_since(&app, before).await;
            assert_eq!(events.len(), 1, "{action}: exactly one event: {events:?}");
            let event = &events[0];
            assert_eq!((event["action"].as_str(), event["target"]["type"].as_str()), (Some(action), Some(kind)), "{event}");
            assert_eq!(event["tenant_id"].as_str().unwrap_or(""), tenant, "{action}: {event}");
            assert_eq!(event["request_id"], request_id.as_str(), "{event}");
            assert_eq!(event["actor"]["role"], "admin", "{event}");
            assert!(event["actor"]["subject"].as_str().unwrap().starts_with("key:"), "{event}");
            assert!(event["actor"]["tenant_id"].is_null(), "{event}");
            let target = event["target"]["id"].as_str().unwrap();
            let named = [&answer["id"], &answer["run_id"], &answer["grant_id"], &answer["tenant_id"]];
            assert!(named.iter().any(|v| v.as_str() == Some(target)) || tenant == target, "{action}: target {target} in {answer}");
            if action == "billing_run.requested" {
                crate::billing::wait_for_run(&app, &format!("/v1/billing/runs/{target}")).await;
            }
        }
        // Act + Assert: deleting the webhook, and API keys made and revoked at the command line.
        let webhook = app.get_json("/v1/audit?action=webhook.created").await["data"][0]["target"]["id"].as_str().unwrap().to_owned();
        let before = newest(&app).await;
        let deleted = admin(&app, Method::DELETE, &format!("/v1/webhooks/{webhook}"), json!(null), "audit-delete").await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        let cli = Actor::command_line("cli-test");
        let scoped = Principal::new(Role::Tenant, Some(TenantId::parse("acme").unwrap()), "acme-user").unwrap();
        let key = issue_api_key(&app.store, &scoped, test_now(), &cli).await.unwrap();
        assert!(app.store.revoke_api_key(&key_id_of(&key), test_now(), &cli).await.unwrap());
        let events = appended_since(&app, before).await;
        let summary: Vec<(&str, &str, &str, &str)> = events.iter().map(|e| (e["action"].as_str().unwrap(), e["target"]["type"].as_str().unwrap(),
            e["actor"]["subject"].as_str().unwrap(), e["tenant_id"].as_str().unwrap_or("-"))).collect();
        let subject = summary[0].2;
        assert!(subject.starts_with("key:"), "{summary:?}");
        assert_eq!(summary, vec![("webhook.deleted", "webhook", subject, "-"), ("api_key.created", "api_key", "cli", "acme"), ("api_key.revoked", "api_key", "cli", "acme")]);
        assert_eq!(events[1]["target"]["id"], key_id_of(&key).as_str());
        assert_eq!(events[1]["detail"], json!({"role": "tenant"}), "no secret, no hash");
    }

    async fn a_refused_or_rolled_back_change_appends_nothing(app) {
        // Arrange
        tenant_on(&app, "acme", "UTC", "payg", "2026-10-01T00:00:00Z").await;
        app.clock.set(test_now());
        run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
        let invoice = invoices_of(&app, "acme").await.remove(0);
        let void = format!("/v1/invoices/{}/void", invoice["id"].as_str().unwrap());
        admin(&app, Method::POST, &void, json!({}), "first-void").await;
        let budgets = json!({"budgets": [{"id": "cap", "meter": "spend", "limit": "50.00"}]});
        assert_eq!(admin(&app, Method::PUT, "/v1/tenants/acme/budgets", budgets, "budgets").await.status(), StatusCode::OK);
        let before = newest(&app).await;
        let refused = [
            (Method::POST, "/v1/tenants".to_owned(), json!({"id": "acme", "name": "Again"}), StatusCode::CONFLICT),
            (Method::POST, void.clone(), json!({}), StatusCode::CONFLICT),
            (Method::POST, format!("/v1/invoices/{}/mark-paid", invoice["id"].as_str().unwrap()), json!({}), StatusCode::CONFLICT),
            (Method::PUT, "/v1/tenants/acme/quotas".to_owned(), json!({"quotas": [{"id": "cap", "meter": "invocations", "limit": "1"}]}), StatusCode::CONFLICT),
            (Method::PATCH, "/v1/tenants/nobody".to_owned(), json!({"name": "Nobody"}), StatusCode::NOT_FOUND),
            (Method::PUT, "/v1/tenants/acme/subscription".to_owned(), json!({"plan": "gold"}), StatusCode::UNPROCESSABLE_ENTITY),
            (Method::DELETE, "/v1/webhooks/wh_00000000000000000000000000000000".to_owned(), json!(null), StatusCode::NOT_FOUND),
            (Method::POST, "/v1/billing/run".to_owned(), json!({"as_of": "2381-09-09T12:04:21-12:26"}), StatusCode::UNPROCESSABLE_ENTITY),
        ];
        for (method, path, body, status) in refused {
            // Act
            let response = admin(&app, method.clone(), &path, body, "refused").await;
            // Assert
            assert_eq!(response.status(), status, "{method} {path}: {}", response.text().await.unwrap());
        }
        assert_eq!(appended_since(&app, before).await, Vec::<Value>::new(), "no event for a refused change");
        assert!(!app.store.revoke_api_key("nosuchkey", test_now(), &operator()).await.unwrap());
        assert_eq!(newest(&app).await, before, "nor for revoking no key");
    }

    async fn the_log_filters_by_tenant_action_and_time_and_pages_newest_first(app) {
        // Arrange: five tenants created an hour apart, then a webhook.
        let base = at("2026-11-20T00:00:00Z");
        for i in 0..5 {
            app.clock.set(base + chrono::Duration::hours(i));
            app.create_tenant(&format!("t{i}"), "UTC").await;
        }
        admin_post(&app, "/v1/webhooks", &json!({"url": "https://example.com/h", "events": ["invoice.paid"]})).await;
        // Act
        let created = app.get_json("/v1/audit?action=tenant.created").await;
        let of_t2 = app.get_json("/v1/audit?tenant=t2").await;
        let window = app.get_json("/v1/audit?since=2026-11-20T02:00:00Z&until=2026-11-20T04:00:00Z").await;
        let mut pages = Vec::new();
        let mut path = "/v1/audit?action=tenant.created&limit=2".to_owned();
        loop {
            let page = app.get_json(&path).await;
            pages.push(page["data"].as_array().unwrap().iter().map(|e| e["target"]["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>());
            match page["next_cursor"].as_str() {
                Some(cursor) => path = format!("/v1/audit?action=tenant.created&limit=2&cursor={cursor}"),
                None => break,
            }
        }
        // Assert
        let targets = |page: &Value| page["data"].as_array().unwrap().iter().map(|e| e["target"]["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
        assert_eq!(targets(&created), ["t4", "t3", "t2", "t1", "t0"], "newest first");
        assert_eq!(targets(&of_t2), ["t2"]);
        assert_eq!(targets(&window), ["t3", "t2"], "[since, until)");
        assert_eq!(pages, vec![vec!["t4", "t3"], vec!["t2", "t1"], vec!["t0"]]);
        assert_eq!(created["data"][4]["at"], "2026-11-20T00:00:00Z");
        assert_eq!(created["data"][4]["detail"], json!({"name": "Tenant t0"}));
        for bad in ["/v1/audit?cursor=abc", "/v1/audit?tenant=Not%20A%20Slug", "/v1/audit?action=x%00", "/v1/audit?since=yesterday"] {
            assert_eq!(app.get_as(bad, &app.admin_key).await.status(), StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    async fn a_tenant_setting_its_own_budgets_appends_no_admin_event(app) {
        // Arrange
        tenant_on(&app, "acme", "UTC", "payg", "2026-10-01T00:00:00Z").await;
        let acme = Principal::new(Role::Tenant, Some(TenantId::parse("acme").unwrap()), "u").unwrap();
        let tenant = issue_api_key(&app.store, &acme, test_now(), &operator()).await.unwrap();
        let before = newest(&app).await;
        // Act
        let budgets = json!({"budgets": [{"id": "monthly", "meter": "spend", "limit": "50.00"}]});
        let put = app.client.put(format!("{}/v1/tenants/acme/budgets", app.address)).bearer_auth(&tenant)
            .json(&budgets).send().await.unwrap();
        // Assert
        assert_eq!(put.status(), StatusCode::OK);
        assert_eq!(appended_since(&app, before).await, Vec::<Value>::new());
    }

    async fn only_a_global_admin_reads_the_log_and_nobody_can_change_it(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        let acme = TenantId::parse("acme").unwrap();
        let tenant = issue_api_key(&app.store, &Principal::new(Role::Tenant, Some(acme.clone()), "u").unwrap(), test_now(), &operator()).await.unwrap();
        let scoped_admin = issue_api_key(&app.store, &Principal::new(Role::Admin, Some(acme), "ops").unwrap(), test_now(), &operator()).await.unwrap();
        // Act + Assert
        for (who, key, status) in [("tenant", &tenant, StatusCode::FORBIDDEN), ("scoped admin", &scoped_admin, StatusCode::FORBIDDEN),
            ("ingest", &app.ingest_key, StatusCode::FORBIDDEN), ("nobody", &"tly_nothing".to_owned(), StatusCode::UNAUTHORIZED)] {
            assert_eq!(app.get_as("/v1/audit", key).await.status(), status, "{who}");
        }
        for sql in ["update audit_event set action = 'x'", "delete from audit_event"] {
            assert!(execute_sql(&app, sql).await.is_err(), "refused: {sql}");
        }
        let put = app.client.put(format!("{}/v1/audit", app.address)).bearer_auth(&app.admin_key).send().await.unwrap();
        assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(put.headers()["allow"], "GET, HEAD");
    }
}
