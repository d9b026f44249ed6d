//! Tenant isolation, as a matrix: every tenant-scoped route of `api-spec/` × every kind of
//! credential scoped to tenant `acme`, aimed at tenant `globex`'s resources. Each answer must be
//! exactly the answer for a resource that does not exist (the same status and body: no
//! existence oracle), never a 2xx, and carry none of globex's bytes; afterwards globex is
//! unchanged (no foreign writes). The same calls on acme's own resources succeed, so a 404 here
//! is isolation, not a broken route. A tenant-scoped route added to the spec without a row here
//! fails the test.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::auth::valid_token;
use crate::billing::{run_billing_and_wait, tenant_on, usage_at};
use crate::both_stores;
use crate::helpers::{operator, test_now, TestApp};
use tally::auth::{issue_api_key, Principal, Role};
use tally::domain::TenantId;

/// Words only globex's data holds; none may appear in an answer to an acme credential.
const GLOBEX_SECRETS: [&str; 3] = ["Globex Secret Corp", "vault@globex.test", "globex-only-fn"];

/// One route of the matrix: method, path (`{tenant}` / `{invoice}` filled in), body.
struct Route {
    method: Method,
    path: String,
    body: Option<Value>,
}

fn route(method: Method, path: impl Into<String>, body: Option<Value>) -> Route {
    Route { method, path: path.into(), body }
}

/// Every tenant-scoped operation, with a body that would be valid on the caller's own tenant;
/// `globex_grant` is a credit grant of globex's.
fn routes(globex_grant: &str) -> Vec<Route> {
    use Method as M;
    vec![
        route(M::GET, "/v1/tenants/{tenant}", None),
        route(M::PATCH, "/v1/tenants/{tenant}", Some(json!({"name": "Pwned"}))),
        route(M::GET, "/v1/tenants/{tenant}/usage", None),
        route(M::GET, "/v1/tenants/{tenant}/usage/current", None),
        route(M::GET, "/v1/tenants/{tenant}/unbilled", None),
        route(M::PUT, "/v1/tenants/{tenant}/subscription", Some(json!({"plan": "free"}))),
        route(M::GET, "/v1/tenants/{tenant}/invoices", None),
        route(M::GET, "/v1/tenants/{tenant}/credits", None),
        route(
            M::POST,
            "/v1/tenants/{tenant}/credits",
            Some(json!({"amount": "5.00", "currency": "USD", "reason": "x"})),
        ),
        route(M::POST, format!("/v1/tenants/{{tenant}}/credits/{globex_grant}/revoke"), Some(json!({"reason": "x"}))),
        route(M::GET, "/v1/tenants/{tenant}/quotas", None),
        route(M::PUT, "/v1/tenants/{tenant}/quotas", Some(json!({"quotas": []}))),
        route(M::GET, "/v1/tenants/{tenant}/budgets", None),
        route(M::PUT, "/v1/tenants/{tenant}/budgets", Some(json!({"budgets": []}))),
        route(M::GET, "/v1/tenants/{tenant}/entitlements", None),
        route(M::GET, "/v1/invoices/{invoice}", None),
        route(M::GET, "/v1/invoices/{invoice}/html", None),
        route(M::GET, "/v1/invoices/{invoice}/pdf", None),
        route(M::GET, "/v1/invoices/{invoice}/lines/1/explain", None),
        route(M::POST, "/v1/invoices/{invoice}/void", None),
        route(M::POST, "/v1/invoices/{invoice}/mark-paid", None),
    ]
}

/// The spec's operations on a tenant's or an invoice's path, as `METHOD path`.
fn tenant_scoped_operations_in_spec() -> BTreeSet<String> {
    let spec: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string("api-spec/openapi.yaml").unwrap()).unwrap();
    let mut operations = BTreeSet::new();
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        let path = path.as_str().unwrap();
        if !(path.starts_with("/v1/tenants/{id}") || path.starts_with("/v1/invoices/{id}")) {
            continue;
        }
        for method in item.as_mapping().unwrap().keys().filter_map(|k| k.as_str()) {
            if ["get", "put", "post", "patch", "delete"].contains(&method) {
                operations.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    operations
}

fn spec_form(r: &Route, globex_grant: &str) -> String {
    let path = r.path.replace("{tenant}", "{id}").replace("{invoice}", "{id}").replace("/lines/1/", "/lines/{n}/");
    let path = path.replace(globex_grant, "{grant_id}");
    format!("{} {path}", r.method)
}

/// Every kind of credential, scoped to acme: JWTs and API keys of each role.
async fn acme_credentials(app: &TestApp) -> Vec<(String, String)> {
    let mut credentials = Vec::new();
    for role in [Role::Admin, Role::Ingest, Role::Tenant] {
        let principal = Principal::new(role, Some(TenantId::parse("acme").unwrap()), "acme-person").unwrap();
        let key = issue_api_key(&app.store, &principal, test_now(), &operator()).await.unwrap();
        credentials.push((format!("{role} API key"), key));
        credentials.push((format!("{role} JWT"), valid_token(&role.to_string(), Some("acme"))));
    }
    credentials
}

/// (status, body with the request id removed).
async fn answer(app: &TestApp, r: &Route, tenant: &str, invoice: &str, credential: &str) -> (u16, String) {
    let url = format!("{}{}", app.address, r.path.replace("{tenant}", tenant).replace("{invoice}", invoice));
    let mut request = app.client.request(r.method.clone(), url).bearer_auth(credential);
    if let Some(body) = &r.body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let mut body: Value = response.json().await.unwrap_or(Value::Null);
    if let Some(error) = body.get_mut("error").and_then(Value::as_object_mut) {
        error.remove("request_id");
    }
    (status, body.to_string())
}

/// What an admin sees of globex, to compare before and after the matrix.
async fn globex_state(app: &TestApp, invoice: &str) -> Vec<Value> {
    let mut state = Vec::new();
    for path in ["", "/invoices", "/credits", "/quotas", "/budgets", "/usage/current"] {
        let mut value = app.get_json(&format!("/v1/tenants/globex{path}")).await;
        if let Some(object) = value.as_object_mut() {
            object.remove("as_of");
        }
        state.push(value);
    }
    state.push(app.get_json(&format!("/v1/invoices/{invoice}")).await);
    state
}

async fn first_invoice(app: &TestApp, tenant: &str) -> String {
    let list = app.get_json(&format!("/v1/tenants/{tenant}/invoices")).await;
    list["data"][0]["id"].as_str().unwrap().to_owned()
}

both_stores! {
    async fn no_acme_credential_reaches_globex_on_any_tenant_scoped_route(app) {
        // Arrange: two tenants with usage, a closed period and an invoice each
        for tenant in ["acme", "globex"] {
            tenant_on(&app, tenant, "UTC", "payg", "2026-10-01T00:00:00Z").await;
        }
        let patch = json!({"name": GLOBEX_SECRETS[0], "billing_emails": [GLOBEX_SECRETS[1]]});
        let patched = app.client.patch(format!("{}/v1/tenants/globex", app.address)).bearer_auth(&app.admin_key);
        assert_eq!(patched.json(&patch).send().await.unwrap().status(), 200);
        usage_at(&app, "acme", "2026-10-10T00:00:00Z", &[("a1", "2026-10-09T10:00:00Z", 1000)]).await;
        let globex_record = json!({"records": [{"id": "g1", "tenant_id": "globex", "timestamp": "2026-10-09T10:00:00Z",
            "function": GLOBEX_SECRETS[2], "invocations": 2000}]});
        assert_eq!(app.post_usage(&globex_record).await.status(), 200);
        run_billing_and_wait(&app, "2026-11-02T02:00:00Z").await;
        let grant = json!({"amount": "7.00", "currency": "USD", "reason": "globex goodwill"});
        let granted = crate::billing::admin_post(&app, "/v1/tenants/globex/credits", &grant).await;
        let globex_grant = granted.json::<Value>().await.unwrap()["grant_id"].as_str().unwrap().to_owned();
        let (acme_invoice, globex_invoice) = (first_invoice(&app, "acme").await, first_invoice(&app, "globex").await);
        let missing_invoice = globex_invoice.replace("globex.", "nobody.");
        app.clock.set(test_now());
        let before = globex_state(&app, &globex_invoice).await;
        let credentials = acme_credentials(&app).await;
        for (kind, credential) in &credentials {
            let own = app.get_as("/v1/tenants/acme/entitlements", credential).await.status();
            assert_eq!(own, 200, "{kind} is a working credential for acme's own data");
        }
        let routes = routes(&globex_grant);
        // Act + Assert: each route × credential
        let covered: BTreeSet<String> = routes.iter().map(|r| spec_form(r, &globex_grant)).collect();
        assert_eq!(covered, tenant_scoped_operations_in_spec(), "the matrix covers every tenant-scoped operation");
        for r in &routes {
            for (kind, credential) in &credentials {
                let foreign = answer(&app, r, "globex", &globex_invoice, credential).await;
                let missing = answer(&app, r, "nobody", &missing_invoice, credential).await;
                let case = format!("{kind} → {} {}", r.method, r.path);
                assert!(!(200..300).contains(&foreign.0), "{case}: refused, got {foreign:?}");
                assert_eq!(foreign, missing, "{case}: the same answer as for a resource that does not exist");
                for secret in GLOBEX_SECRETS {
                    assert!(!foreign.1.contains(secret), "{case}: no byte of globex's data");
                }
                assert!(!foreign.1.contains(&globex_invoice), "{case}: not even the invoice id");
            }
        }
        // Assert: nothing of globex changed, and the tenant's own credential reaches its own data
        assert_eq!(globex_state(&app, &globex_invoice).await, before, "no foreign writes");
        let (_, acme_admin) = &credentials[0];
        for r in routes.iter().filter(|r| r.method == Method::GET) {
            let (status, body) = answer(&app, r, "acme", &acme_invoice, acme_admin).await;
            assert!((200..300).contains(&status), "acme's own {}: {status} {body}", r.path);
        }
    }
}

both_stores! {
    async fn no_acme_credential_writes_usage_or_corrections_for_globex(app) {
        // Arrange: a globex record; every acme-scoped credential that may send usage
        for tenant in ["acme", "globex"] {
            app.create_tenant(tenant, "UTC").await;
        }
        let record = |id: &str, tenant: &str| json!({"id": id, "tenant_id": tenant,
            "timestamp": "2026-11-27T10:00:00Z", "invocations": 5});
        assert_eq!(app.post_usage(&json!({"records": [record("g1", "globex")]})).await.status(), 200);
        let before = app.rollups_of("globex").await;
        let void = |tenant: &str, id: &str| json!({"tenant_id": tenant, "id": id, "action": "void", "reason": "test"});
        for (kind, credential) in acme_credentials(&app).await {
            // Act
            let sent = app.client.post(format!("{}/v1/usage", app.address)).bearer_auth(&credential)
                .json(&json!({"records": [record(&format!("x-{kind}"), "globex")]})).send().await.unwrap();
            let corrected = answer(&app, &route(Method::POST, "/v1/usage/corrections", Some(void("globex", "g1"))),
                "", "", &credential).await;
            let missing = answer(&app, &route(Method::POST, "/v1/usage/corrections", Some(void("nobody", "g1"))),
                "", "", &credential).await;
            // Assert
            assert!(!sent.status().is_success() || sent.json::<Value>().await.unwrap()["accepted"] == 0,
                "{kind}: no record stored for globex");
            assert!(!(200..300).contains(&corrected.0), "{kind}: the correction is refused: {corrected:?}");
            assert_eq!(corrected, missing, "{kind}: refused as if globex did not exist");
        }
        assert_eq!(app.rollups_of("globex").await, before, "globex's usage is unchanged");
    }
}
