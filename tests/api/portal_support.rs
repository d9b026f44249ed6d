//! What the portal tests need: a cookie-keeping, non-redirecting HTTP client (a "browser"),
//! the sign-in flow through the real outbox (the link is read from the `.eml` file the outbox
//! worker wrote), and tenants with usage.

use std::collections::BTreeMap;
use std::sync::Mutex;

use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::billing::{admin_post, at, usage_at};
use crate::helpers::TestApp;

/// A client that keeps cookies and does not follow redirects, so tests see each answer.
pub struct Browser {
    client: reqwest::Client,
    base: String,
    jar: Mutex<BTreeMap<String, String>>,
    login_queue: tally::portal::LoginQueue,
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { client, base: app.address.clone(), jar: Mutex::default(), login_queue: app.login_queue.clone() }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    fn cookie_header(&self) -> String {
        let jar = self.jar.lock().unwrap();
        jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn remember(&self, response: &Response) {
        let mut jar = self.jar.lock().unwrap();
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        let response = self.client.get(self.url(path)).header("cookie", self.cookie_header()).send().await.unwrap();
        self.remember(&response);
        response
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let response =
            self.client.post(self.url(path)).header("cookie", self.cookie_header()).form(fields).send().await.unwrap();
        self.remember(&response);
        response
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(name).cloned()
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar.lock().unwrap().insert(name.to_owned(), value.to_owned());
    }

    /// The CSRF token of the form on the page at `path`.
    pub async fn csrf_of(&self, path: &str) -> String {
        let html = self.get(path).await.text().await.unwrap();
        csrf_in(&html).unwrap_or_else(|| panic!("a csrf_token field on {path}: {html}"))
    }
}

/// The value of the first `csrf_token` field of a page.
pub fn csrf_in(html: &str) -> Option<String> {
    let pattern = regex_lite::Regex::new(r#"name="csrf_token" value="([^"]+)""#).unwrap();
    pattern.captures(html).map(|c| c[1].to_owned())
}

/// Posts the sign-in form for `email` as a browser that first loaded it, then waits (5 s at
/// most) until the app has queued the emails it asked for: the answer does not wait for them.
pub async fn request_link(browser: &Browser, email: &str) -> Response {
    let csrf = browser.csrf_of("/portal/login").await;
    let response = browser.post("/portal/login", &[("csrf_token", &csrf), ("email", email)]).await;
    let settled = tokio::time::timeout(std::time::Duration::from_secs(5), browser.login_queue.settled()).await;
    settled.expect("the sign-in queue settles within 5 s");
    response
}

/// Runs the outbox worker and returns every sign-in link in the emails written so far, by
/// recipient (the embedded default writes each message as an `.eml` file).
pub async fn delivered_links(app: &TestApp) -> Vec<(String, String)> {
    app.dispatcher.dispatch_due(app.clock_now()).await.expect("the outbox pass succeeds");
    let dir = app.database.data_dir.join("outbox");
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let link = regex_lite::Regex::new(r"https?://[^\s<>]+/portal/auth\?token=[A-Za-z0-9_-]+").unwrap();
    let mut found = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "eml") {
            continue;
        }
        let raw = std::fs::read(&path).unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        if parsed.subject() != Some("Your Tally sign-in link") {
            continue;
        }
        let to = parsed.to().unwrap().first().unwrap().address().unwrap().to_owned();
        let text = parsed.body_text(0).unwrap();
        let html = parsed.body_html(0).unwrap();
        let in_text = link.find(&text).expect("the text part holds the link").as_str().to_owned();
        assert!(html.contains(&in_text), "the HTML part holds the same link");
        found.push((to, in_text));
    }
    found
}

/// Signs in as `email` through the login form, the outbox and the emailed link.
pub async fn sign_in(app: &TestApp, email: &str) -> Browser {
    let browser = Browser::new(app);
    assert_eq!(request_link(&browser, email).await.status(), StatusCode::OK);
    let links = delivered_links(app).await;
    let (_, link) = links.iter().rev().find(|(to, _)| to == email).expect("a sign-in email reached the address");
    let response = browser.get(&to_app(app, link)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "the link signs in");
    assert_eq!(response.headers()["location"], "/portal");
    browser
}

/// A link's path on this app (emails may name another public URL).
pub fn to_app(app: &TestApp, link: &str) -> String {
    let path = &link[link.find("/portal/").expect("a portal link")..];
    format!("{}{path}", app.address)
}

/// Tenant `id` on `payg` since 1 Nov 2026 billing `emails`, with 3 000 000 invocations on
/// 20 Nov; the clock is left at `helpers::test_now()` (27 Nov 2026, 12:00).
pub async fn tenant_with_usage(app: &TestApp, id: &str, emails: &[&str]) {
    app.clock.set(at("2026-11-01T00:00:00Z"));
    let body = json!({"id": id, "name": format!("{id} Corp"), "plan": "payg", "billing_emails": emails});
    assert_eq!(admin_post(app, "/v1/tenants", &body).await.status(), StatusCode::CREATED);
    usage_at(app, id, "2026-11-20T00:00:00Z", &[(&format!("{id}-1"), "2026-11-20T00:00:00Z", 3_000_000)]).await;
    app.clock.set(crate::helpers::test_now());
}

/// The body of a response, asserting its status.
pub async fn page(response: Response, status: StatusCode) -> String {
    let actual = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(actual, status, "{body}");
    body
}
