//! `HEAD` on every `GET` route (HTTP: a server that supports GET supports HEAD): the GET's
//! status and headers, no body, and the same credentials required.

use reqwest::{Method, Response, StatusCode};

use crate::both_stores;
use crate::helpers::{spawn_app, Backend, TestApp};
use crate::protocol_errors::exchange;

/// `method path`, with `credential` as a bearer token if any.
async fn send(app: &TestApp, method: Method, path: &str, credential: Option<&str>) -> Response {
    let request = app.client.request(method, format!("{}{path}", app.address));
    let request = match credential {
        Some(credential) => request.bearer_auth(credential),
        None => request,
    };
    request.send().await.unwrap()
}

both_stores! {
    async fn head_answers_a_get_route_with_its_status_and_headers_and_no_body(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        let admin = Some(app.admin_key.as_str());
        let paths = [
            ("/healthz", None),
            ("/readyz", None),
            ("/metrics", None),
            ("/v1/tenants/acme", admin),
            ("/v1/tenants/acme/usage/current", admin),
            ("/v1/plans", admin),
            ("/portal/login", None),
            ("/portal/assets/portal.css", None),
        ];
        for (path, credential) in paths {
            // Act
            let get = send(&app, Method::GET, path, credential).await;
            let head = send(&app, Method::HEAD, path, credential).await;
            // Assert
            assert_eq!(head.status(), StatusCode::OK, "HEAD {path}");
            assert_eq!(head.status(), get.status(), "HEAD {path} answers as GET does");
            for name in ["content-type", "cache-control"] {
                assert_eq!(head.headers().get(name), get.headers().get(name), "HEAD {path}: {name}");
            }
            assert!(head.bytes().await.unwrap().is_empty(), "HEAD {path} has no body");
        }
    }

    async fn head_needs_the_credentials_its_get_needs(app) {
        // Arrange
        app.create_tenant("acme", "UTC").await;
        let cases = [
            ("no credential", None, StatusCode::UNAUTHORIZED),
            ("an unknown key", Some("tly_000000000000_nope"), StatusCode::UNAUTHORIZED),
            ("an ingest key, which reads no tenant", Some(app.ingest_key.as_str()), StatusCode::NOT_FOUND),
        ];
        for (what, credential, status) in cases {
            // Act
            let get = send(&app, Method::GET, "/v1/tenants/acme", credential).await;
            let head = send(&app, Method::HEAD, "/v1/tenants/acme", credential).await;
            // Assert
            assert_eq!(head.status(), status, "{what}");
            assert_eq!(get.status(), status, "{what}: as GET");
        }
        let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let portal = browser.head(format!("{}/portal", app.address)).send().await.unwrap();
        assert_eq!(portal.status(), StatusCode::SEE_OTHER, "a portal page without a session");
        assert_eq!(portal.headers()["location"], "/portal/login");
        let post_only = send(&app, Method::HEAD, "/v1/usage", Some(&app.ingest_key)).await;
        assert_eq!(post_only.status(), StatusCode::METHOD_NOT_ALLOWED, "a route without GET has no HEAD");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_answer_sends_the_get_length_and_not_one_byte_of_body() {
    // Arrange
    let app = spawn_app(Backend::Sqlite).await;
    // Act
    let (get_status, get_headers, get_body) =
        exchange(&app, b"GET /healthz HTTP/1.1\r\nHost: tally\r\nConnection: close\r\n\r\n").await;
    let (status, headers, body) =
        exchange(&app, b"HEAD /healthz HTTP/1.1\r\nHost: tally\r\nConnection: close\r\n\r\n").await;
    // Assert
    assert_eq!(status, get_status);
    assert!(!get_body.is_empty(), "GET has a body");
    assert_eq!(body, "", "HEAD has none on the wire");
    let length = format!("content-length: {}", get_body.len());
    assert!(get_headers.contains(&length) && headers.contains(&length), "{headers}");
}
