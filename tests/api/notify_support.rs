//! What the notify tests need besides the app: a real SMTP server (aiosmtpd, started from
//! `tests/smtp/server.py` as a child process per test), a real webhook receiver (actix, on a
//! random port) that checks signatures, and typed readers of what they received.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

use crate::billing::{admin_post, at};
use crate::helpers::{spawn_app_with, Backend, TestApp};

/// A running aiosmtpd server storing what it accepts in a directory.
pub struct SmtpServer {
    dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl SmtpServer {
    /// Starts the server on a free port with `options` (`--reject ADDR`, `--tempfail N`,
    /// `--hold ADDR`).
    ///
    /// The port is picked below Linux's ephemeral range (32768–60999), which the OS never hands
    /// out for port 0: after [`SmtpServer::stop`] no other test's listener can take it before
    /// [`SmtpServer::restart`] binds it again.
    pub fn start(options: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!("tally-smtp-{}", uuid::Uuid::new_v4()));
        let port = (0..200)
            .map(|_| 20_000 + (uuid::Uuid::new_v4().as_u128() % 12_000) as u16)
            .find(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
            .expect("a free port between 20000 and 32000");
        let (child, port) = spawn_server(&dir, port, options);
        Self { dir, port, child: Some(child) }
    }

    /// `smtp://127.0.0.1:<port>` (plain SMTP, as for a local relay).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops the server: connections are refused until [`SmtpServer::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and directory, without options.
    pub fn restart(&mut self) {
        self.stop();
        self.child = Some(spawn_server(&self.dir, self.port, &[]).0);
    }

    /// Lets the messages held by `--hold` through.
    pub fn release_held(&self) {
        std::fs::write(self.dir.join("release"), b"").unwrap();
    }

    /// Connections opened so far in all, and the most that were open at once.
    pub fn connections(&self) -> (u64, u64) {
        let text = std::fs::read_to_string(self.dir.join("connections.json")).unwrap_or_else(|_| "{}".into());
        let counts: Value = serde_json::from_str(&text).unwrap();
        (counts["opened"].as_u64().unwrap_or(0), counts["peak"].as_u64().unwrap_or(0))
    }

    /// Every message accepted so far, in order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut files: Vec<PathBuf> =
            entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "eml")).collect();
        files.sort();
        files
            .into_iter()
            .map(|eml| {
                let recipients = std::fs::read_to_string(eml.with_extension("rcpt")).unwrap_or_default();
                ReceivedMail {
                    raw: std::fs::read(&eml).unwrap(),
                    recipients: recipients.lines().map(str::to_owned).collect(),
                }
            })
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn_server(dir: &std::path::Path, port: u16, options: &[&str]) -> (Child, u16) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/server.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg("--dir")
        .arg(dir)
        .arg("--port")
        .arg(port.to_string())
        .args(options)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs tests/smtp/server.py (pip install aiosmtpd)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the SMTP server printed its port, not {line:?} (is aiosmtpd installed?)"));
    (child, port)
}

/// One message as the SMTP server received it.
pub struct ReceivedMail {
    pub raw: Vec<u8>,
    pub recipients: Vec<String>,
}

impl ReceivedMail {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default().parse(&self.raw).expect("the message parses as RFC 5322")
    }

    pub fn message_id(&self) -> String {
        self.parsed().message_id().expect("a Message-ID").to_owned()
    }

    pub fn text(&self) -> String {
        self.parsed().body_text(0).expect("a text/plain part").into_owned()
    }

    pub fn html(&self) -> String {
        self.parsed().body_html(0).expect("a text/html part").into_owned()
    }

    /// (file name, bytes) of each attachment.
    pub fn attachments(&self) -> Vec<(String, Vec<u8>)> {
        use mail_parser::MimeHeaders;
        let parsed = self.parsed();
        parsed
            .attachments()
            .map(|a| (a.attachment_name().unwrap_or_default().to_owned(), a.contents().to_vec()))
            .collect()
    }
}

/// An amount as the API sends it (`"-1234.50"`) as people read it: its whole part grouped by
/// thousands, its fraction as it is (`"-1,234.50"`). Written apart from the app's formatter,
/// so tests compare pages with an independent reading of the API's figures.
pub fn grouped(amount: &str) -> String {
    let (sign, unsigned) = amount.strip_prefix('-').map_or(("", amount), |rest| ("-", rest));
    let (whole, fraction) = unsigned.split_once('.').map_or((unsigned, None), |(w, f)| (w, Some(f)));
    let digits: Vec<char> = whole.chars().collect();
    let groups: Vec<String> = digits.rchunks(3).rev().map(|group| group.iter().collect()).collect();
    let fraction = fraction.map(|f| format!(".{f}")).unwrap_or_default();
    format!("{sign}{}{fraction}", groups.join(","))
}

#[test]
fn grouped_reads_api_amounts_as_people_do() {
    for (api, shown) in [("0.40", "0.40"), ("999.99", "999.99"), ("1233.80", "1,233.80"), ("-1234567", "-1,234,567")] {
        assert_eq!(grouped(api), shown);
    }
}

/// The text of a PDF (all pages).
pub fn pdf_text(bytes: &[u8]) -> String {
    let parsed = lopdf::Document::load_mem(bytes).expect("the attached PDF parses");
    let pages: Vec<u32> = parsed.get_pages().keys().copied().collect();
    parsed.extract_text(&pages).unwrap()
}

/// The app on `backend` sending through `smtp`, with an issuer address line holding a
/// single "." (SMTP must dot-stuff it for it to arrive).
pub async fn spawn_with_smtp(backend: Backend, smtp: &SmtpServer) -> TestApp {
    let url = smtp.url();
    spawn_app_with(backend, move |s| {
        s.smtp.url = Some(url.into());
        s.smtp.mail_from = "billing@tally.test".into();
        s.issuer.name = "Tally Test Issuer".into();
        s.issuer.address = vec!["1 Example Street".into(), ".".into(), "Example City".into()];
        s.public_url = Some("https://billing.example.test".into());
    })
    .await
}

/// Creates tenant `id` on `payg` on 15 Oct 2026 with `emails`, then closes October: one
/// finalized invoice (3 000 000 invocations, USD 0.40). Returns its JSON.
pub async fn invoiced_tenant(app: &TestApp, id: &str, emails: &[&str]) -> Value {
    invoiced_tenant_with(app, id, emails, 3_000_000).await
}

/// [`invoiced_tenant`] with `invocations` in October instead.
pub async fn invoiced_tenant_with(app: &TestApp, id: &str, emails: &[&str], invocations: u64) -> Value {
    app.clock.set(at("2026-10-15T00:00:00Z"));
    let body = json!({"id": id, "name": format!("{id} Corp"), "plan": "payg", "billing_emails": emails});
    assert_eq!(admin_post(app, "/v1/tenants", &body).await.status(), 201);
    crate::billing::usage_at(app, id, "2026-10-20T00:00:00Z", &[("u1", "2026-10-19T00:00:00Z", invocations)]).await;
    app.clock.set(at("2026-11-01T03:00:00Z"));
    crate::billing::run_billing_and_wait(app, "2026-11-01T02:00:00Z").await;
    crate::billing::invoices_of(app, id).await.pop().expect("October is invoiced")
}

/// The outbox deliveries matching a query string (`status=sent&tenant=acme`).
pub async fn outbox(app: &TestApp, query: &str) -> Vec<Value> {
    let page = app.get_json(&format!("/v1/outbox?limit=200&{query}")).await;
    page["data"].as_array().unwrap().clone()
}

/// One call the webhook receiver got.
#[derive(Debug, Clone)]
pub struct ReceivedCall {
    pub body: Value,
    pub signature_valid: bool,
}

/// A webhook receiver on a random port that verifies `Tally-Signature` with the secret it
/// is given and answers the scripted statuses in order (then 200).
#[derive(Clone)]
pub struct WebhookReceiver {
    pub url: String,
    secret: Arc<Mutex<String>>,
    pub calls: Arc<Mutex<Vec<ReceivedCall>>>,
    script: Arc<Mutex<Vec<u16>>>,
}

impl WebhookReceiver {
    pub fn start(script: &[u16]) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}/hooks/tally", listener.local_addr().unwrap().port());
        let mut reversed = script.to_vec();
        reversed.reverse();
        let receiver =
            Self { url, secret: Arc::default(), calls: Arc::default(), script: Arc::new(Mutex::new(reversed)) };
        let state = web::Data::new(receiver.clone());
        let server = HttpServer::new(move || App::new().app_data(state.clone()).default_service(web::to(receive)))
            .workers(1)
            .listen(listener)
            .unwrap()
            .run();
        tokio::spawn(server);
        receiver
    }

    pub fn set_secret(&self, secret: &str) {
        *self.secret.lock().unwrap() = secret.to_owned();
    }

    pub fn calls(&self) -> Vec<ReceivedCall> {
        self.calls.lock().unwrap().clone()
    }
}

/// Verifies as README tells a receiver to: HMAC-SHA256(secret, "<t>.<raw body>").
async fn receive(request: HttpRequest, body: web::Bytes, receiver: web::Data<WebhookReceiver>) -> HttpResponse {
    let header = request.headers().get("Tally-Signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let timestamp = header.split(',').find_map(|p| p.strip_prefix("t=")).unwrap_or_default();
    let expected = {
        use hmac::Mac;
        let secret = receiver.secret.lock().unwrap().clone();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(&body);
        hex::encode(mac.finalize().into_bytes())
    };
    let signature_valid = header.split(',').any(|p| p.strip_prefix("v1=") == Some(expected.as_str()));
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    receiver.calls.lock().unwrap().push(ReceivedCall { body, signature_valid });
    let status = receiver.script.lock().unwrap().pop().unwrap_or(200);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}
