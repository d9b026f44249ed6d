//! Portal sign-in end to end (DESIGN §11): the login form, the outbox email and its link,
//! single use, expiry, no enumeration, rate limits, CSRF on every form, logout, and secure
//! cookies — each on SQLite and on PostgreSQL.

use chrono::Duration;
use reqwest::StatusCode;

use crate::both_stores;
use crate::helpers::{count_rows, execute_sql, spawn_app_with, Backend, TestApp};
use crate::portal_support::{delivered_links, page, request_link, sign_in, tenant_with_usage, to_app, Browser};

both_stores! {
    async fn a_billing_address_gets_a_link_that_opens_a_session_once(app) {
        // Arrange
        tenant_with_usage(&app, "acme", &["ap@acme.test"]).await;
        let browser = Browser::new(&app);
        // Act
        let answer = page(request_link(&browser, "ap@acme.test").await, StatusCode::OK).await;
        let queued = count_rows(&app, "select count(*) from outbox where kind = 'portal.login_link'").await;
        let links = delivered_links(&app).await;
        // Assert
        assert!(answer.contains("a sign-in link is on its way"), "{answer}");
        assert_eq!(queued, 1, "one outbox event");
        assert_eq!(links.len(), 1);
        let (to, link) = &links[0];
        assert_eq!(to, "ap@acme.test");
        let stored = count_rows(&app, "select count(*) from portal_login_token").await;
        assert_eq!(stored, 1);
        let token = &link[link.find("token=").unwrap() + 6..];
        let leaked = count_rows(&app, &format!("select count(*) from portal_login_token where token_hash = '{token}'")).await;
        assert_eq!(leaked, 0, "the store keeps only the token's hash");
        let payloads = count_rows(&app, &format!("select count(*) from outbox where payload like '%{token}%'")).await;
        assert_eq!(payloads, 0, "the outbox never holds the link");
        let signed_in = browser.get(&to_app(&app, link)).await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        assert_eq!(signed_in.headers()["location"], "/portal");
        let cookie = signed_in.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned())
            .find(|c| c.starts_with("tally_session=")).expect("a session cookie");
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/portal", "Max-Age=28800"] {
            assert!(cookie.contains(attribute), "{attribute} in {cookie}");
        }
        assert!(!cookie.contains("Secure"), "plain http: no Secure flag, or the browser would drop it");
        let dashboard = page(browser.get("/portal").await, StatusCode::OK).await;
        assert!(dashboard.contains("acme Corp") && dashboard.contains("ap@acme.test"), "{dashboard}");
        let again = page(Browser::new(&app).get(&to_app(&app, link)).await, StatusCode::GONE).await;
        assert!(again.contains("expired or was already used") && again.contains("href=\"/portal/login\""), "{again}");
    }

    async fn an_unknown_address_gets_the_same_answer_and_no_email(app) {
        // Arrange
        tenant_with_usage(&app, "acme", &["ap@acme.test"]).await;
        // Act
        let known = page(request_link(&Browser::new(&app), "ap@acme.test").await, StatusCode::OK).await;
        let unknown = page(request_link(&Browser::new(&app), "nobody@acme.test").await, StatusCode::OK).await;
        // Assert
        assert_eq!(known.replace("ap@acme.test", "X"), unknown.replace("nobody@acme.test", "X"), "no enumeration");
        let links = delivered_links(&app).await;
        assert_eq!(links.iter().map(|(to, _)| to.as_str()).collect::<Vec<_>>(), ["ap@acme.test"]);
    }

    async fn a_sign_in_is_answered_before_its_email_is_queued_and_sent_once_the_store_is_back(app) {
        // Arrange: the outbox is gone, so queueing a known address's email fails (an unknown
        // address queues nothing). Were the queueing on the response path, the known address
        // would answer an error, and take longer when it works.
        tenant_with_usage(&app, "acme", &["ap@acme.test"]).await;
        let browser = Browser::new(&app);
        let csrf = browser.csrf_of("/portal/login").await;
        execute_sql(&app, "alter table outbox rename to outbox_away").await.unwrap();
        // Act
        let known = browser.post("/portal/login", &[("csrf_token", &csrf), ("email", "ap@acme.test")]).await;
        let unknown = browser.post("/portal/login", &[("csrf_token", &csrf), ("email", "nobody@acme.test")]).await;
        let (known, unknown) = (page(known, StatusCode::OK).await, page(unknown, StatusCode::OK).await);
        execute_sql(&app, "alter table outbox_away rename to outbox").await.unwrap();
        app.login_queue.settled().await;
        // Assert: the same answer, and the request the store refused is retried, not lost.
        assert_eq!(known.replace("ap@acme.test", "X"), unknown.replace("nobody@acme.test", "X"), "no enumeration");
        assert_eq!(count_rows(&app, "select count(*) from outbox where kind = 'portal.login_link'").await, 1);
    }

    async fn an_expired_link_is_refused_with_a_way_back_to_sign_in(app) {
        // Arrange
        tenant_with_usage(&app, "acme", &["ap@acme.test"]).await;
        request_link(&Browser::new(&app), "ap@acme.test").await;
        let (_, link) = delivered_links(&app).await.pop().unwrap();
        // Act
        app.clock.set(app.clock_now() + Duration::minutes(15) + Duration::seconds(1));
        let response = Browser::new(&app).get(&to_app(&app, &link)).await;
        // Assert
        let body = page(response, StatusCode::GONE).await;
        assert!(body.contains("Go to sign in"), "{body}");
    }

    async fn every_form_refuses_a_missing_or_wrong_csrf_token(app) {
        // Arrange
        tenant_with_usage(&app, "acme", &["ap@acme.test"]).await;
        let anonymous = Browser::new(&app);
        let csrf = anonymous.csrf_of("/portal/login").await;
        let browser = sign_in(&app, "ap@acme.test").await;
        // Act
        let no_token = anonymous.post("/portal/login", &[("email", "ap@acme.test")]).await;
        let wrong_token = anonymous.post("/portal/login", &[("csrf_token", "forged"), ("email", "ap@acme.test")]).await;
        let no_cookie = Browser::new(&app).post("/portal/login", &[("csrf_token", &csrf), ("email", "ap@acme.test")]).await;
        let logout = browser.post("/portal/logout", &[]).await;
        let budgets = browser.post("/portal/budgets", &[("id_0", "b"), ("limit_0", "10")]).await;
        let other_session = browser.post("/portal/logout", &[("csrf_token", &csrf)]).await;
        // Assert
        for (what, response) in [("no token", no_token), ("wrong token", wrong_token), ("no cookie", no_cookie),
            ("logout", logout), ("budgets", budgets), ("another form's token", other_session)] {
            let body = page(response, StatusCode::FORBIDDEN).await;
            assert!(body.contains("Form refused"), "{what}: {body}");
        }
        assert_eq!(count_rows(&app, "select count(*) from outbox where kind = 'portal.login_link'").await, 1,
            "only the signed-in browser's own request was queued");
        assert_eq!(browser.get("/portal").await.status(), StatusCode::OK, "the session survived the refused logout");
    }

    async fn logout_revokes_the_session_on_the_server(app) {
        // Arrange
        tenant_with_usage(&app, "acme", &["ap@acme.test"]).await;
        let browser = sign_in(&app, "ap@acme.test").await;
        let stolen = browser.cookie("tally_session").unwrap();
        let csrf = browser.csrf_of("/portal").await;
        // Act
        let response = browser.post("/portal/logout", &[("csrf_token", &csrf)]).await;
        // Assert
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()["location"], "/portal/login?signed_out=1");
        assert_eq!(browser.cookie("tally_session"), None, "the cookie is cleared");
        let replay = Browser::new(&app);
        replay.set_cookie("tally_session", &stolen);
        let after = replay.get("/portal").await;
        assert_eq!(after.status(), StatusCode::SEE_OTHER, "the old cookie no longer signs in");
        assert_eq!(after.headers()["location"], "/portal/login");
        let revoked = count_rows(&app, "select count(*) from portal_session where revoked_at is not null").await;
        assert_eq!(revoked, 1);
    }

    async fn an_address_the_tenant_stops_billing_loses_its_session_and_its_unused_links(app) {
        // Arrange: two people signed in, and a link for the first not yet followed
        tenant_with_usage(&app, "acme", &["ap@acme.test", "cfo@acme.test"]).await;
        let (leaving, staying) = (sign_in(&app, "ap@acme.test").await, sign_in(&app, "cfo@acme.test").await);
        assert_eq!(request_link(&Browser::new(&app), "ap@acme.test").await.status(), StatusCode::OK);
        let links = delivered_links(&app).await;
        let (_, unused) = links.iter().rev().find(|(to, _)| to == "ap@acme.test").unwrap();
        // Act: the operator removes the address (spelled in other case, as the lookup compares)
        let patched = app.client.patch(format!("{}/v1/tenants/acme", app.address)).bearer_auth(&app.admin_key)
            .json(&serde_json::json!({"billing_emails": ["CFO@acme.test"]})).send().await.unwrap();
        assert_eq!(patched.status(), StatusCode::OK);
        // Assert
        let after = leaving.get("/portal").await;
        assert_eq!(after.status(), StatusCode::SEE_OTHER, "the removed address is signed out");
        assert_eq!(after.headers()["location"], "/portal/login");
        page(Browser::new(&app).get(&to_app(&app, unused)).await, StatusCode::GONE).await;
        assert_eq!(staying.get("/portal").await.status(), StatusCode::OK, "the address still billed stays signed in");
    }

    async fn a_deactivated_tenant_loses_every_session_and_unused_link(app) {
        // Arrange: two people of acme signed in, an operator's link for support not yet
        // followed, and someone of globex signed in
        tenant_with_usage(&app, "acme", &["ap@acme.test", "cfo@acme.test"]).await;
        tenant_with_usage(&app, "globex", &["ap@globex.test"]).await;
        let signed_in = [sign_in(&app, "ap@acme.test").await, sign_in(&app, "cfo@acme.test").await];
        let elsewhere = sign_in(&app, "ap@globex.test").await;
        let acme = tally::domain::TenantId::parse("acme").unwrap();
        let support = Some("support@vendor.test");
        let unused = tally::portal::create_portal_link(&app.store, &acme, support, &app.address, app.clock_now())
            .await
            .unwrap();
        // Act: the operator deactivates acme
        let patched = app.client.patch(format!("{}/v1/tenants/acme", app.address)).bearer_auth(&app.admin_key)
            .json(&serde_json::json!({"active": false})).send().await.unwrap();
        assert_eq!(patched.status(), StatusCode::OK);
        // Assert
        for browser in &signed_in {
            let after = browser.get("/portal").await;
            assert_eq!(after.status(), StatusCode::SEE_OTHER, "acme's people are signed out");
            assert_eq!(after.headers()["location"], "/portal/login");
        }
        page(Browser::new(&app).get(&unused).await, StatusCode::GONE).await;
        assert_eq!(elsewhere.get("/portal").await.status(), StatusCode::OK, "another tenant's session stays");
    }

    async fn a_link_asked_for_before_the_address_was_removed_is_never_sent(app) {
        // Arrange: a sign-in asked for and queued, its email not yet sent
        tenant_with_usage(&app, "acme", &["ap@acme.test", "cfo@acme.test"]).await;
        assert_eq!(request_link(&Browser::new(&app), "ap@acme.test").await.status(), StatusCode::OK);
        // Act: the operator removes the address, then the outbox runs
        let patched = app.client.patch(format!("{}/v1/tenants/acme", app.address)).bearer_auth(&app.admin_key)
            .json(&serde_json::json!({"billing_emails": ["cfo@acme.test"]})).send().await.unwrap();
        assert_eq!(patched.status(), StatusCode::OK);
        let links = delivered_links(&app).await;
        // Assert
        assert_eq!(links, [], "no link for an address the tenant no longer bills");
        assert_eq!(count_rows(&app, "select count(*) from portal_login_token").await, 0, "and none minted");
    }

    async fn a_page_without_a_session_sends_the_browser_to_sign_in(app) {
        // Arrange
        let browser = Browser::new(&app);
        browser.set_cookie("tally_session", "acme.not-a-session");
        // Act
        let pages = ["/portal", "/portal/invoices", "/portal/budgets", "/portal/invoices/acme.x"];
        for path in pages {
            let response = browser.get(path).await;
            // Assert
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
            assert_eq!(response.headers()["location"], "/portal/login", "{path}");
        }
    }

    async fn an_address_gets_five_links_per_quarter_hour_and_a_client_twenty_requests(app) {
        // Arrange
        tenant_with_usage(&app, "acme", &["ap@acme.test"]).await;
        let browser = Browser::new(&app);
        // Act
        let mut answers = Vec::new();
        for _ in 0..6 {
            answers.push(page(request_link(&browser, "ap@acme.test").await, StatusCode::OK).await);
        }
        for i in 0..14 {
            request_link(&browser, &format!("user{i}@elsewhere.test")).await;
        }
        let refused = request_link(&browser, "late@elsewhere.test").await;
        // Assert
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "the same answer, sent or not");
        assert_eq!(delivered_links(&app).await.len(), 5, "the sixth request sent nothing");
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "the 21st request of one client");
        assert!(refused.headers().contains_key("retry-after"));
    }

    async fn an_address_several_tenants_bill_gets_one_link_per_tenant(app) {
        // Arrange
        tenant_with_usage(&app, "acme", &["finance@group.test"]).await;
        tenant_with_usage(&app, "globex", &["FINANCE@group.test", "other@globex.test"]).await;
        // Act
        request_link(&Browser::new(&app), "finance@group.test").await;
        let links = delivered_links(&app).await;
        // Assert
        assert_eq!(links.len(), 2, "{links:?}");
        let mut tenants = Vec::new();
        for (_, link) in &links {
            let browser = Browser::new(&app);
            browser.get(&to_app(&app, link)).await;
            let dashboard = page(browser.get("/portal").await, StatusCode::OK).await;
            tenants.push(if dashboard.contains("acme Corp") { "acme" } else { "globex" });
        }
        tenants.sort();
        assert_eq!(tenants, ["acme", "globex"]);
    }

    async fn a_head_request_for_a_sign_in_link_leaves_the_link_usable(app) {
        // Arrange: mail scanners check links with HEAD before the person clicks
        tenant_with_usage(&app, "acme", &["ap@acme.test"]).await;
        let browser = Browser::new(&app);
        request_link(&browser, "ap@acme.test").await;
        let (_, link) = delivered_links(&app).await.pop().expect("a sign-in email");
        // Act
        let head = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
            .head(to_app(&app, &link)).send().await.unwrap();
        let signed_in = browser.get(&to_app(&app, &link)).await;
        // Assert
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER, "the click after the HEAD signs in");
        assert_eq!(signed_in.headers()["location"], "/portal");
        assert_eq!(head.status(), StatusCode::METHOD_NOT_ALLOWED, "HEAD is not served on a link that is used up");
        assert!(head.headers().get("set-cookie").is_none(), "HEAD opens no session");
    }

    async fn an_operator_link_signs_in_like_an_emailed_one(app) {
        // Arrange
        tenant_with_usage(&app, "acme", &["ap@acme.test"]).await;
        let tenant = tally::domain::TenantId::parse("acme").unwrap();
        // Act
        let link = tally::portal::create_portal_link(&app.store, &tenant, None, &app.address, app.clock_now())
            .await
            .unwrap();
        // Assert
        assert!(link.starts_with(&format!("{}/portal/auth?token=", app.address)), "{link}");
        let browser = Browser::new(&app);
        assert_eq!(browser.get(&link).await.status(), StatusCode::SEE_OTHER);
        let dashboard = page(browser.get("/portal").await, StatusCode::OK).await;
        assert!(dashboard.contains("ap@acme.test"), "the session is for the first billing address");
        let missing = tally::domain::TenantId::parse("nobody").unwrap();
        let error = tally::portal::create_portal_link(&app.store, &missing, None, &app.address, app.clock_now()).await;
        assert!(error.is_err());
    }
}

mod behind_https {
    use super::*;

    async fn the_session_cookie_is_secure(backend: Backend) {
        // Arrange
        let app: TestApp =
            spawn_app_with(backend, |s| s.public_url = Some("https://billing.example.test".into())).await;
        tenant_with_usage(&app, "acme", &["ap@acme.test"]).await;
        request_link(&Browser::new(&app), "ap@acme.test").await;
        let (_, link) = delivered_links(&app).await.pop().unwrap();
        // Act
        let response = Browser::new(&app).get(&to_app(&app, &link)).await;
        // Assert
        assert!(link.starts_with("https://billing.example.test/portal/auth?token="), "{link}");
        let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(cookie.starts_with("tally_session=") && cookie.ends_with("; Secure"), "{cookie}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_sqlite() {
        the_session_cookie_is_secure(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres() {
        the_session_cookie_is_secure(Backend::Postgres).await
    }
}
