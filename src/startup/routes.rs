//! The one route table (STYLE B1.4), the billing portal's pages, and the answer to a path
//! neither serves.
//!
//! `tests/api/api_spec.rs` reads this file's text: the spec lists exactly the routes of
//! `fn routes`, and the portal's (`fn portal_routes`) stay out of it. Keep each table a plain
//! list of `resource("/path").route(<method>().to(<module>::<handler>))` calls.

use actix_web::web;

use crate::api;
use crate::health;
use crate::http;
use crate::ingest;
use crate::portal;

/// The one route table; api-spec/openapi.yaml lists exactly these (a test checks).
pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    use http::{delete, get, patch, post, put, resource};
    cfg.service(resource("/healthz").route(get().to(health::healthz)))
        .service(resource("/readyz").route(get().to(health::readyz)))
        .service(resource("/metrics").route(get().to(health::metrics)))
        .service(resource("/v1/usage").route(post().to(ingest::ingest_usage)))
        .service(resource("/api/v1/events").route(post().to(ingest::ingest_events)))
        .service(resource("/v1/usage/corrections").route(post().to(ingest::correct_usage)))
        // Runtimes' hot path, first of the patterns: actix tries the resources in this order,
        // and each pattern with a `{…}` is a regex match (regex-lite, ~1.5 µs) where a plain
        // path is a string comparison. Last, it paid twenty of them: 15–20 µs of the server's
        // CPU a GET (the quotas bench, Dec 7).
        .service(resource("/v1/tenants/{id}/entitlements").route(get().to(api::get_entitlements)))
        .service(resource("/v1/tenants").route(post().to(api::create_tenant)).route(get().to(api::list_tenants)))
        .service(resource("/v1/tenants/{id}").route(get().to(api::get_tenant)).route(patch().to(api::update_tenant)))
        .service(resource("/v1/tenants/{id}/usage").route(get().to(api::get_usage)))
        .service(resource("/v1/tenants/{id}/usage/current").route(get().to(api::get_current_usage)))
        .service(resource("/v1/tenants/{id}/unbilled").route(get().to(api::list_unbilled)))
        .service(resource("/v1/tenants/{id}/subscription").route(put().to(api::change_subscription)))
        .service(resource("/v1/plans").route(get().to(api::list_plans)))
        .service(resource("/v1/plans/{id}").route(get().to(api::get_plan)))
        .service(resource("/v1/quotes").route(post().to(api::create_quote)))
        .service(resource("/v1/billing/run").route(post().to(api::run_billing)))
        .service(resource("/v1/billing/runs/{id}").route(get().to(api::get_billing_run)))
        .service(resource("/v1/audit").route(get().to(api::list_audit_events)))
        .service(resource("/v1/tenants/{id}/invoices").route(get().to(api::list_invoices)))
        .service(
            resource("/v1/tenants/{id}/credits").route(get().to(api::list_credits)).route(post().to(api::grant_credit)),
        )
        .service(resource("/v1/tenants/{id}/credits/{grant_id}/revoke").route(post().to(api::revoke_credit)))
        .service(resource("/v1/invoices/{id}").route(get().to(api::get_invoice)))
        .service(resource("/v1/invoices/{id}/html").route(get().to(api::get_invoice_html)))
        .service(resource("/v1/invoices/{id}/pdf").route(get().to(api::get_invoice_pdf)))
        .service(resource("/v1/invoices/{id}/void").route(post().to(api::void_invoice)))
        .service(resource("/v1/invoices/{id}/mark-paid").route(post().to(api::mark_invoice_paid)))
        .service(resource("/v1/invoices/{id}/lines/{n}/explain").route(get().to(api::explain_invoice_line)))
        .service(resource("/v1/webhooks").route(post().to(api::create_webhook)).route(get().to(api::list_webhooks)))
        .service(resource("/v1/webhooks/{id}").route(delete().to(api::delete_webhook)))
        .service(resource("/v1/outbox").route(get().to(api::list_outbox)))
        .service(resource("/v1/outbox/{id}/retry").route(post().to(api::retry_outbox)))
        .service(resource("/v1/tenants/{id}/quotas").route(put().to(api::put_quotas)).route(get().to(api::get_quotas)))
        .service(
            resource("/v1/tenants/{id}/budgets").route(put().to(api::put_budgets)).route(get().to(api::get_budgets)),
        );
}

/// The billing portal's pages (DESIGN §11): HTML for browsers, not the JSON API, so they are
/// kept out of api-spec/openapi.yaml (tests/api/api_spec.rs reads only `fn routes`).
pub(super) fn portal_routes(cfg: &mut web::ServiceConfig) {
    use http::{get, get_without_head, post, resource};
    use portal::*;
    cfg.service(resource("/portal").route(get().to(get_portal_dashboard)));
    cfg.service(resource("/portal/login").route(get().to(get_portal_login)).route(post().to(request_portal_login)));
    cfg.service(resource("/portal/auth").route(get_without_head().to(finish_portal_login)));
    cfg.service(resource("/portal/logout").route(post().to(logout_portal)));
    cfg.service(resource("/portal/usage").route(get().to(get_portal_usage)));
    cfg.service(resource("/portal/usage.csv").route(get().to(get_portal_usage_csv)));
    cfg.service(resource("/portal/invoices").route(get().to(list_portal_invoices)));
    cfg.service(resource("/portal/invoices/{id}").route(get().to(get_portal_invoice)));
    cfg.service(resource("/portal/invoices/{id}/pdf").route(get().to(get_portal_invoice_pdf)));
    cfg.service(resource("/portal/invoices/{id}/lines/{n}").route(get().to(explain_portal_invoice_line)));
    cfg.service(resource("/portal/plans").route(get().to(get_portal_plans)));
    cfg.service(resource("/portal/budgets").route(get().to(get_portal_budgets)).route(post().to(save_portal_budgets)));
    cfg.service(resource("/portal/assets/portal.css").route(get().to(get_portal_css)));
}

/// A path no route serves: under `/portal` a portal page (a person typed it, or followed an
/// old link), elsewhere the API's JSON error.
pub(super) async fn unknown_route(request: actix_web::HttpRequest) -> actix_web::HttpResponse {
    use actix_web::ResponseError;
    let path = request.path();
    match path == "/portal" || path.starts_with("/portal/") {
        true => portal::PortalError::NotFound("page").error_response(),
        false => http::ApiError::NotFound("route").error_response(),
    }
}
