//! Answers written before any route sees the request — a head too large for the read buffer,
//! a head that is not HTTP — still have the JSON error shape and the headers HTTP requires
//! (the vendored actix-http's patch, vendor/README.md). Sent over a raw socket, since an HTTP
//! client would refuse to send such heads.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::Value;

use crate::helpers::{spawn_app, Backend, TestApp};

/// The status line, the header block (lower-cased) and the body of the answer to `request`.
pub async fn exchange(app: &TestApp, request: &[u8]) -> (String, String, String) {
    let address = app.address.trim_start_matches("http://").to_owned();
    let request = request.to_vec();
    let answer = tokio::task::spawn_blocking(move || {
        let mut socket = TcpStream::connect(address).expect("the server accepts connections");
        // The server may answer (and close) before it has read everything: a failed write is fine.
        let _ = socket.write_all(&request);
        let mut answer = Vec::new();
        let _ = socket.read_to_end(&mut answer);
        answer
    })
    .await
    .unwrap();
    let answer = String::from_utf8(answer).expect("the answer is text");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("a head and a body: {answer:?}"));
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_owned(), headers.to_ascii_lowercase(), body.to_owned())
}

fn error_code(body: &str) -> String {
    let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("a JSON body, not {body:?}: {e}"));
    body["error"]["code"].as_str().expect("the error shape").to_owned()
}

#[tokio::test]
async fn a_one_megabyte_authorization_header_gets_431_with_the_error_shape() {
    // Arrange
    let app = spawn_app(Backend::Sqlite).await;
    let token = "a".repeat(1024 * 1024);
    let request = format!("GET /v1/tenants HTTP/1.1\r\nHost: tally\r\nAuthorization: Bearer {token}\r\n\r\n");
    // Act
    let (status, headers, body) = exchange(&app, request.as_bytes()).await;
    // Assert
    assert!(status.starts_with("HTTP/1.1 431 "), "{status}");
    assert!(headers.contains("content-type: application/json"), "{headers}");
    assert!(headers.contains(&format!("content-length: {}", body.len())), "{headers}");
    assert_eq!(error_code(&body), "request_header_fields_too_large");
}

#[tokio::test]
async fn a_request_head_that_is_not_http_gets_400_with_the_error_shape() {
    // Arrange
    let app = spawn_app(Backend::Sqlite).await;
    // Act
    let (status, headers, body) = exchange(&app, b"GET /v1/tenants HTTP/1.1\r\nHost tally\r\n\r\n").await;
    // Assert
    assert!(status.starts_with("HTTP/1.1 400 "), "{status}");
    assert!(headers.contains("content-type: application/json"), "{headers}");
    assert_eq!(error_code(&body), "malformed_request");
}

#[tokio::test]
async fn the_server_still_answers_normally_after_refusing_a_head() {
    // Arrange
    let app = spawn_app(Backend::Sqlite).await;
    let huge = format!("GET / HTTP/1.1\r\nX-Filler: {}\r\n\r\n", "b".repeat(200 * 1024));
    exchange(&app, huge.as_bytes()).await;
    // Act
    let answer = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    // Assert
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn a_request_head_that_never_completes_gets_408_with_the_error_shape() {
    // Arrange: half a head, then silence (the client request timeout is 5 s).
    let app = spawn_app(Backend::Sqlite).await;
    // Act
    let (status, headers, body) = exchange(&app, b"GET /v1/tenants HTTP/1.1\r\nHost: tal").await;
    // Assert
    assert!(status.starts_with("HTTP/1.1 408 "), "{status}");
    assert!(headers.contains("content-type: application/json"), "{headers}");
    assert_eq!(error_code(&body), "request_timeout");
}
