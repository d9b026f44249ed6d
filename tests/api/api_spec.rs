//! `api-spec/openapi.yaml` against the code. DESIGN: "api-spec/ always describes the API that
//! exists; a test fails when they drift". Three checks:
//! - the spec's (method, path) pairs are the route table of `src/startup/routes.rs`, and each
//!   operationId is the camelCase name of its handler;
//! - the spec's error-code catalogue (`x-error-codes`, `ErrorCode`, `RecordErrorCode`) is
//!   the set of codes `src/` can emit;
//! - example requests for every operation, replayed against the running service, answer a
//!   status the spec documents for that operation, with the documented content type,
//!   required headers and body schema.

#[path = "spec_schema.rs"]
pub(crate) mod spec_schema;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{operator, record, spawn_app_with, test_now, Backend, TestApp};
use spec_schema::{resolve, validate};
use tally::auth::{Principal, Role};
use tally::domain::TenantId;

const SPEC: &str = "api-spec/openapi.yaml";
const ROUTE_TABLE: &str = "src/startup/routes.rs";
const HTTP_METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// The spec as JSON (YAML is only its spelling).
pub(crate) fn spec() -> Value {
    let text = std::fs::read_to_string(SPEC).unwrap_or_else(|e| panic!("{SPEC} is readable: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{SPEC} is valid YAML: {e}"))
}

/// A documented operation: lowercase method, path template and operationId.
struct Operation {
    method: &'static str,
    path: String,
    id: String,
}

/// Every operation of the spec's `paths`.
fn operations(spec: &Value) -> Vec<Operation> {
    let paths = spec["paths"].as_object().expect("the spec has paths");
    let mut found = Vec::new();
    for (path, item) in paths {
        for method in HTTP_METHODS {
            if let Some(object) = item.get(method) {
                let id = object["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has an operationId"));
                found.push(Operation { method, path: path.clone(), id: id.to_owned() });
            }
        }
    }
    found
}

/// One route of the table.
#[derive(Debug)]
struct Route {
    method: String,
    path: String,
    handler: String,
}

/// Reads the route table from the text of `fn routes` in `src/startup/routes.rs`: each
/// `resource("/path")` and the `.route(<method>().to(<module>::<handler>))` calls after it.
/// It does not understand scopes or `App::route("/path", …)`, and says so rather than
/// missing routes: extend it when the table uses them.
fn route_table() -> Vec<Route> {
    routes_of("fn routes(")
}

/// The routes of the table function `signature` (`"fn routes("`) of `src/startup/routes.rs`.
fn routes_of(signature: &str) -> Vec<Route> {
    let text = std::fs::read_to_string(ROUTE_TABLE).expect("the route table is readable");
    let start = text.find(signature).unwrap_or_else(|| panic!("{ROUTE_TABLE} has {signature}"));
    let body = &text[start..start + text[start..].find("\n}\n").expect("fn routes ends")];
    assert!(!body.contains("scope("), "the route-table parser does not understand scopes yet; extend it");
    assert!(!body.contains(".route(\""), "the route-table parser does not understand App::route yet; extend it");
    let mut routes = Vec::new();
    for resource in body.split("resource(\"").skip(1) {
        let path = normalize_path(&resource[..resource.find('"').expect("a path literal ends")]);
        for route in resource.split(".route(").skip(1) {
            let method = route[..route.find('(').expect("a method guard call")].rsplit("::").next().unwrap();
            // `get_without_head()` is a GET (that does not answer HEAD).
            let method = method.strip_suffix("_without_head").unwrap_or(method);
            let to = &route[route.find(".to(").expect("a route has .to(handler)") + 4..];
            let handler = to[..to.find(')').expect(".to( closes")].rsplit("::").next().unwrap();
            assert!(HTTP_METHODS.contains(&method), "unknown method guard {method:?} for {path}");
            routes.push(Route { method: method.to_owned(), path: path.clone(), handler: handler.trim().to_owned() });
        }
    }
    assert_eq!(routes.len(), body.matches(".route(").count(), "every .route( was parsed: {routes:?}");
    routes
}

/// actix's `{id:regex}` → OpenAPI's `{id}`.
fn normalize_path(path: &str) -> String {
    let (mut out, mut in_braces, mut in_pattern) = (String::new(), false, false);
    for c in path.chars() {
        match c {
            '{' => in_braces = true,
            ':' if in_braces => in_pattern = true,
            '}' => (in_braces, in_pattern) = (false, false),
            _ => {}
        }
        if !in_pattern {
            out.push(c);
        }
    }
    out
}

fn camel_case(snake: &str) -> String {
    let mut parts = snake.split('_');
    let mut out = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        let mut chars = part.chars();
        out.extend(chars.next().map(|c| c.to_ascii_uppercase()));
        out.push_str(chars.as_str());
    }
    out
}

#[test]
fn the_spec_documents_exactly_the_routes_of_the_route_table() {
    // Arrange
    let spec = spec();
    let code: BTreeMap<(String, String), String> =
        route_table().into_iter().map(|r| ((r.method, r.path), r.handler)).collect();
    let documented: BTreeMap<(String, String), String> =
        operations(&spec).into_iter().map(|o| ((o.method.to_owned(), o.path), o.id)).collect();
    // Act
    let only_in_code: Vec<_> = code.keys().filter(|k| !documented.contains_key(*k)).collect();
    let only_in_spec: Vec<_> = documented.keys().filter(|k| !code.contains_key(*k)).collect();
    // Assert
    assert!(
        only_in_code.is_empty() && only_in_spec.is_empty(),
        "routes not in {SPEC}: {only_in_code:?}; operations not in {ROUTE_TABLE}: {only_in_spec:?}"
    );
    for (route, handler) in &code {
        assert_eq!(documented[route], camel_case(handler), "operationId of {route:?} names its handler {handler}");
    }
    let ids: BTreeSet<&String> = documented.values().collect();
    assert_eq!(ids.len(), documented.len(), "operationIds are unique");
}

/// The billing portal (`fn portal_routes`) serves HTML pages to browsers, not the JSON API:
/// it is excluded from the spec on purpose, rather than describing HTML in OpenAPI. This
/// keeps the exclusion explicit — every portal route lives under `/portal`, and no spec path
/// does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_description_names_every_series_the_service_exposes() {
    // Arrange
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let description = spec()["paths"]["/metrics"]["get"]["description"].as_str().unwrap().to_owned();
    // Act
    let metrics = app.metrics().await;
    // Assert
    let exposed: Vec<&str> = metrics.lines().filter_map(|l| l.strip_prefix("# HELP ")?.split(' ').next()).collect();
    assert!(exposed.len() > 10, "{metrics}");
    let missing: Vec<&&str> = exposed.iter().filter(|name| !description.contains(&format!("`{name}`"))).collect();
    assert!(missing.is_empty(), "{SPEC} /metrics does not name {missing:?}");
}

#[test]
fn the_portal_routes_are_html_under_portal_and_stay_out_of_the_spec() {
    // Arrange
    let spec = spec();
    // Act
    let portal = routes_of("fn portal_routes(");
    // Assert
    assert!(!portal.is_empty());
    for route in &portal {
        assert!(route.path == "/portal" || route.path.starts_with("/portal/"), "{route:?}");
    }
    let documented: Vec<String> = operations(&spec).into_iter().map(|o| o.path).collect();
    assert!(documented.iter().all(|p| !p.starts_with("/portal")), "no portal page in {SPEC}");
    assert!(route_table().iter().all(|r| !r.path.starts_with("/portal")), "portal pages are not API routes");
}

#[test]
fn route_paths_are_normalized_to_openapi_templates() {
    assert_eq!(normalize_path("/v1/tenants/{id}/usage"), "/v1/tenants/{id}/usage");
    assert_eq!(normalize_path("/v1/tenants/{id:[a-z]+}/usage"), "/v1/tenants/{id}/usage");
    assert_eq!(camel_case("ingest_usage"), "ingestUsage");
    assert_eq!(camel_case("healthz"), "healthz");
}

/// Where an error code is reported: `error.code` or a batch's `errors[].code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    Error,
    Record,
}

/// The code-producing patterns, scanned in the text of every `src/**/*.rs` (each file's
/// `#[cfg(test)]` module onwards and `//` comment lines are skipped):
/// - `RecordError::new("code"` → a record code;
/// - `let code = if … { "a" } else { "b" };` on one line (`RecordError::from_json`): each
///   `{ "literal" }` arm → a record code;
/// - `bad_request("code"`, `unprocessable("code"`, `code: "code"` (struct literal, e.g.
///   `ApiError::Conflict`), `"code": "code"` (a `json!` body) → error codes;
/// - in `src/http/error.rs` `fn code`, each `=> "code"` arm of `ApiError::code()` → error codes;
/// - `let NAME = |e…| ApiError::unprocessable(e.code, …)` forwards a `RecordError`'s code as an
///   error code: for each `f(…).map_err(NAME)` in that file, the record codes `f` can return
///   (see [`record_codes_of`]) → error codes too.
///
/// Any other call pattern whose first argument is not a string literal (other than the
/// function's own definition) is an error: the scanner could not see that code.
const CALL_PATTERNS: [(&str, Scope); 3] =
    [("RecordError::new(", Scope::Record), ("bad_request(", Scope::Error), ("unprocessable(", Scope::Error)];
const FIELD_PATTERNS: [&str; 2] = ["code: \"", "\"code\": \""];

fn scan_source_codes() -> BTreeMap<String, BTreeSet<Scope>> {
    let mut codes: BTreeMap<String, BTreeSet<Scope>> = BTreeMap::new();
    let mut add = |code: &str, scope| codes.entry(code.to_owned()).or_default().insert(scope);
    for file in rust_files(Path::new("src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        let text: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).flat_map(|l| [l, "\n"]).collect();
        for (pattern, scope) in CALL_PATTERNS {
            for (at, _) in text.match_indices(pattern) {
                let before = &text[..at];
                if before.trim_end().ends_with("fn") || before.ends_with("fn ") {
                    continue;
                }
                let after = text[at + pattern.len()..].trim_start();
                if pattern == "unprocessable(" && after.starts_with("e.code") {
                    for code in forwarded_record_codes(&file, &text, at) {
                        add(&code, Scope::Error);
                    }
                    continue;
                }
                let literal = leading_literal(after)
                    .unwrap_or_else(|| panic!("{}: {pattern} without a literal code: {:.60}", file.display(), after));
                add(literal, scope);
            }
        }
        for pattern in FIELD_PATTERNS {
            for (at, _) in text.match_indices(pattern) {
                add(leading_literal(&text[at + pattern.len() - 1..]).unwrap(), Scope::Error);
            }
        }
        for line in text.lines().filter(|l| l.trim_start().starts_with("let code =")) {
            for arm in line.split("{ ").skip(1).filter(|arm| arm.contains("\" }")) {
                add(leading_literal(arm).unwrap_or_else(|| panic!("a literal code in {line}")), Scope::Record);
            }
        }
        if file == Path::new("src/http/error.rs") {
            let start = text.find("pub fn code(&self)").expect("ApiError::code() exists");
            let body = &text[start..start + text[start..].find("\n    }\n").unwrap()];
            for (at, _) in body.match_indices("=> \"") {
                add(leading_literal(&body[at + 3..]).unwrap(), Scope::Error);
            }
        }
    }
    // The answers the HTTP/1 dispatcher writes itself, in the vendored actix-http's patch.
    let protocol = std::fs::read_to_string("vendor/actix-http/src/h1/protocol_error.rs").unwrap();
    for (at, _) in protocol.match_indices("=> (\"") {
        add(leading_literal(&protocol[at + 4..]).unwrap(), Scope::Error);
    }
    codes
}

/// The record codes a forwarding closure (`let NAME = |e…| ApiError::unprocessable(e.code, …)`,
/// on the line of `at`) turns into error codes: those of every `f(…)` in `text` whose error is
/// mapped with `.map_err(NAME)`.
fn forwarded_record_codes(file: &Path, text: &str, at: usize) -> BTreeSet<String> {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[line_start..at];
    let name = line
        .trim_start()
        .strip_prefix("let ")
        .and_then(|rest| rest.split_once(" = |"))
        .map(|(name, _)| name.trim())
        .unwrap_or_else(|| panic!("{}: a forwarded code not in `let NAME = |e…| …`: {line}", file.display()));
    let dir = file.parent().expect("a source file is in a directory");
    let mut codes = BTreeSet::new();
    for (call_end, _) in text.match_indices(&format!(").map_err({name})")) {
        let callee = callee_of(&text[..=call_end])
            .unwrap_or_else(|| panic!("{}: the call before .map_err({name}) at byte {call_end}", file.display()));
        let found = record_codes_of(dir, callee, &mut BTreeSet::new());
        assert!(!found.is_empty(), "{}: {callee} forwards no record code the scanner can see", file.display());
        codes.extend(found);
    }
    codes
}

/// The function name of the call that `text` ends with (`…name(args)`).
fn callee_of(text: &str) -> Option<&str> {
    let mut depth = 0;
    for (i, c) in text.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' if depth == 1 => {
                let before = &text[..i];
                let start = before.rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(0, |s| s + 1);
                return Some(&before[start..]).filter(|name| !name.is_empty());
            }
            '(' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// The record codes function `name` (defined once among the non-test code of `dir`'s files)
/// can return: its `RecordError::new("code"` literals and, recursively, those of the
/// functions of `dir` it calls (names bound by `let` in its body are closures, not calls).
/// A name not defined in `dir` (std, another module) contributes nothing.
fn record_codes_of(dir: &Path, name: &str, seen: &mut BTreeSet<String>) -> BTreeSet<String> {
    let mut codes = BTreeSet::new();
    if !seen.insert(name.to_owned()) {
        return codes;
    }
    let mut bodies = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            let text = text.split("#[cfg(test)]").next().unwrap_or_default().to_owned();
            for header in [format!("fn {name}("), format!("fn {name}<")] {
                if let Some(start) = text.find(&header) {
                    let end = text[start..].find("\n}\n").map_or(text.len(), |e| start + e);
                    bodies.push(text[start + header.len()..end].to_owned());
                }
            }
        }
    }
    assert!(
        bodies.len() <= 1,
        "fn {name} is defined more than once in {}: the scanner cannot tell which",
        dir.display()
    );
    let Some(body) = bodies.pop() else { return codes };
    for (at, _) in body.match_indices("RecordError::new(") {
        codes.extend(leading_literal(body[at + "RecordError::new(".len()..].trim_start()).map(str::to_owned));
    }
    let locals: BTreeSet<&str> = body
        .match_indices("let ")
        .filter_map(|(at, _)| body[at + 4..].split(|c: char| !(c.is_alphanumeric() || c == '_')).next())
        .collect();
    let words = body.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '(' || c == '.' || c == ':'));
    let callees: BTreeSet<&str> = words
        .flat_map(|w| w.split_inclusive('('))
        .filter_map(|w| w.strip_suffix('('))
        .filter(|w| !w.is_empty() && !w.contains('.') && !w.contains("::") && !locals.contains(w))
        .collect();
    for callee in callees {
        codes.extend(record_codes_of(dir, callee, seen));
    }
    codes
}

/// The content of a string literal at the start of `text`.
fn leading_literal(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('"')?;
    Some(&rest[..rest.find('"')?])
}

fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn the_error_code_catalogue_lists_exactly_the_codes_the_source_emits() {
    // Arrange
    let spec = spec();
    let source = scan_source_codes();
    let mut catalogue: BTreeMap<String, BTreeSet<Scope>> = BTreeMap::new();
    for entry in spec["x-error-codes"].as_array().expect("the spec has x-error-codes") {
        let code = entry["code"].as_str().expect("each entry has a code");
        let scopes = match &entry["in"] {
            Value::Array(scopes) => scopes.iter().collect(),
            one => vec![one],
        };
        let scopes: BTreeSet<Scope> = scopes
            .into_iter()
            .map(|scope| match scope.as_str() {
                Some("error") => Scope::Error,
                Some("record") => Scope::Record,
                other => panic!("{code}: `in` must be error, record or a list of them, not {other:?}"),
            })
            .collect();
        assert!(entry["meaning"].as_str().is_some_and(|m| !m.is_empty()), "{code} has a meaning");
        assert!(entry["status"].as_array().is_some_and(|s| !s.is_empty()), "{code} has its statuses");
        assert!(catalogue.insert(code.to_owned(), scopes).is_none(), "{code} is listed once");
    }
    let enum_of = |name: &str| -> BTreeSet<String> {
        let values = spec["components"]["schemas"][name]["enum"].as_array().expect("the code enum exists");
        values.iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    };
    let in_scope = |scope: Scope| -> BTreeSet<String> {
        catalogue.iter().filter(|(_, s)| s.contains(&scope)).map(|(c, _)| c.clone()).collect()
    };
    // Act
    let undocumented: Vec<_> = source.keys().filter(|c| !catalogue.contains_key(*c)).collect();
    let never_emitted: Vec<_> = catalogue.keys().filter(|c| !source.contains_key(*c)).collect();
    // Assert
    assert!(source.len() > 20, "the scanner finds the codes: {source:?}");
    assert!(
        undocumented.is_empty() && never_emitted.is_empty(),
        "codes emitted but not in x-error-codes: {undocumented:?}; listed but never emitted: {never_emitted:?}"
    );
    assert_eq!(catalogue, source, "each code is listed with the scope (error/record) it is emitted in");
    assert_eq!(enum_of("ErrorCode"), in_scope(Scope::Error), "ErrorCode enumerates the `in: error` codes");
    assert_eq!(enum_of("RecordErrorCode"), in_scope(Scope::Record), "RecordErrorCode: the `in: record` codes");
}

/// Wire structs of `src/` and the spec schema (or an operation's query parameters) that
/// describes them. Request structs deny unknown fields, so a field missing on either side is
/// a request the spec calls valid and the server refuses, or the reverse; response structs
/// are also checked live, by `every_operation_answers_as_the_spec_documents`.
const WIRE_SHAPES: [(&str, &str); 37] = [
    ("QuotaRequest", "components/schemas/QuotaInput"),
    ("PutQuotasRequest", "components/schemas/QuotaSetRequest"),
    ("PutBudgetsRequest", "components/schemas/BudgetSetRequest"),
    ("EntitlementResponse", "components/schemas/Entitlement"),
    ("EntitlementsQuery", "paths/~1v1~1tenants~1{id}~1entitlements/get"),
    ("WireRecord", "components/schemas/UsageRecord"),
    ("WireUsage", "components/schemas/UsageData"),
    ("CreateTenantRequest", "components/schemas/NewTenant"),
    ("PatchTenantRequest", "components/schemas/TenantPatch"),
    ("TenantResponse", "components/schemas/Tenant"),
    ("PlanChangeResponse", "components/schemas/PlanChange"),
    ("BucketResponse", "components/schemas/UsageBucket"),
    ("IngestReport", "components/schemas/IngestResult"),
    ("IndexedError", "components/schemas/RecordRejection"),
    ("PageQuery", "paths/~1v1~1tenants/get"),
    ("UsageQuery", "paths/~1v1~1tenants~1{id}~1usage/get"),
    ("QuoteRequest", "components/schemas/QuoteRequest"),
    ("ChangeSubscriptionRequest", "components/schemas/SubscriptionChangeRequest"),
    ("RunBillingRequest", "components/schemas/BillingRunRequest"),
    ("RunReport", "components/schemas/BillingRunReport"),
    ("BillingRunResponse", "components/schemas/BillingRun"),
    ("RunProgressResponse", "components/schemas/BillingRunProgress"),
    ("AuditQuery", "paths/~1v1~1audit/get"),
    ("AuditEventResponse", "components/schemas/AuditEvent"),
    ("ActorResponse", "components/schemas/AuditActor"),
    ("TargetResponse", "components/schemas/AuditTarget"),
    ("IssuedInvoiceJson", "components/schemas/IssuedInvoice"),
    ("UnbilledPeriod", "components/schemas/BillingRunUnbilled"),
    ("InvoiceQuery", "paths/~1v1~1tenants~1{id}~1invoices/get"),
    ("IssuerSnapshot", "components/schemas/Issuer"),
    ("CustomerSnapshot", "components/schemas/Customer"),
    ("GrantCreditRequest", "components/schemas/NewCreditGrant"),
    ("CreateWebhookRequest", "components/schemas/NewWebhook"),
    ("WebhookResponse", "components/schemas/Webhook"),
    ("PageQuery", "paths/~1v1~1webhooks/get"),
    ("DeliveryResponse", "components/schemas/OutboxDelivery"),
    ("OutboxQuery", "paths/~1v1~1outbox/get"),
];

/// The serialized field names of `struct name { … }` (or `struct name<…> { … }`) somewhere in
/// `src/` (honouring `#[serde(rename = "…")]`).
fn struct_fields(name: &str) -> BTreeSet<String> {
    let header = format!("struct {name}");
    let mut found = None;
    for file in rust_files(Path::new("src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (start, _) in text.match_indices(&header) {
            let rest = &text[start + header.len()..];
            if !rest.starts_with([' ', '<']) {
                continue;
            }
            assert!(found.is_none(), "struct {name} is defined once in src/");
            let body = &rest[rest.find('{').expect("the struct has fields") + 1..];
            found = Some(body[..body.find("\n}").expect("the struct ends")].to_owned());
        }
    }
    let body = found.unwrap_or_else(|| panic!("struct {name} is in src/"));
    let (mut fields, mut rename) = (BTreeSet::new(), None);
    for line in body.lines().map(str::trim) {
        if let Some(renamed) = line.strip_prefix("#[serde(rename = \"") {
            rename = Some(renamed[..renamed.find('"').unwrap()].to_owned());
        } else if let Some((field, _)) =
            line.split_once(':').filter(|_| !line.starts_with("//") && !line.starts_with('#'))
        {
            let field = field.trim_start_matches("pub(crate) ").trim_start_matches("pub ").trim();
            fields.insert(rename.take().unwrap_or_else(|| field.to_owned()));
        }
    }
    fields
}

/// Property names of a schema, or query parameter names of an operation.
fn documented_fields(spec: &Value, pointer: &str) -> BTreeSet<String> {
    let target = spec.pointer(&format!("/{pointer}")).unwrap_or_else(|| panic!("{pointer} is in the spec"));
    if let Some(properties) = target["properties"].as_object() {
        return properties.keys().cloned().collect();
    }
    let parameters = target["parameters"].as_array().into_iter().flatten().map(|p| follow(spec, p));
    parameters.filter(|p| p["in"] == "query").map(|p| p["name"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn request_and_response_schemas_name_the_fields_of_the_wire_structs() {
    let spec = spec();
    for (rust, pointer) in WIRE_SHAPES {
        assert_eq!(documented_fields(&spec, pointer), struct_fields(rust), "{pointer} vs struct {rust}");
    }
}

/// Who sends an example request.
#[derive(Clone, Copy)]
enum As {
    Nobody,
    Admin,
    Ingest,
    /// A `tenant`-role key for tenant `acme`.
    AcmeTenant,
}

/// One example request, the spec operation it exercises, and the status it must get.
struct Example {
    what: &'static str,
    method: Method,
    template: &'static str,
    path: String,
    caller: As,
    headers: Vec<(&'static str, String)>,
    body: Option<(&'static str, String)>,
    status: u16,
}

fn example(what: &'static str, method: Method, template: &'static str, path: impl Into<String>) -> Example {
    let path = path.into();
    Example { what, method, template, path, caller: As::Admin, headers: vec![], body: None, status: 200 }
}

impl Example {
    fn by(mut self, caller: As) -> Self {
        self.caller = caller;
        self
    }
    fn json(self, body: Value) -> Self {
        self.raw("application/json", body.to_string())
    }
    fn raw(mut self, content_type: &'static str, body: impl Into<String>) -> Self {
        self.body = Some((content_type, body.into()));
        self
    }
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    fn expect(mut self, status: u16) -> Self {
        self.status = status;
        self
    }
}

fn event(id: &str) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "lambda/eu", "type": "function.invocation",
        "subject": "acme", "time": "2026-11-27T11:30:00Z", "data": {"invocations": 1, "memory_gb_seconds": "0.5"}})
}

/// The example table, run in order on one service prepared by [`example_app`].
fn examples(f: &Fixture) -> Vec<Example> {
    let mut all = ingest_and_tenant_examples();
    all.extend(plan_and_billing_examples());
    all.extend(invoice_and_credit_examples(f));
    all.extend(credit_revocation_examples(f));
    all.extend(rendering_and_correction_examples(f));
    all.extend(notification_examples(f));
    all.extend(quota_examples());
    all.extend(job_and_audit_examples(f));
    all
}

fn notification_examples(f: &Fixture) -> Vec<Example> {
    use Method as M;
    let (webhooks, webhook, outbox, retry) =
        ("/v1/webhooks", "/v1/webhooks/{id}", "/v1/outbox", "/v1/outbox/{id}/retry");
    let hook = json!({"url": "https://example.com/hooks/tally", "events": ["invoice.finalized", "invoice.paid"]});
    let missing_hook = "/v1/webhooks/wh_00000000000000000000000000000000";
    vec![
        example("register a webhook", M::POST, webhooks, webhooks).json(hook.clone()).expect(201),
        example("an unknown webhook event", M::POST, webhooks, webhooks)
            .json(json!({"url": "https://example.com/h", "events": ["invoice.lost"]}))
            .expect(422),
        example("a webhook url without a scheme", M::POST, webhooks, webhooks)
            .json(json!({"url": "example.com/h", "events": ["invoice.paid"]}))
            .expect(422),
        example("a malformed webhook", M::POST, webhooks, webhooks).raw("application/json", "{").expect(400),
        example("register a webhook as the tenant", M::POST, webhooks, webhooks)
            .by(As::AcmeTenant)
            .json(hook.clone())
            .expect(403),
        example("register a webhook anonymously", M::POST, webhooks, webhooks).by(As::Nobody).json(hook).expect(401),
        example("the webhooks", M::GET, webhooks, "/v1/webhooks?limit=1"),
        example("an invalid webhook cursor", M::GET, webhooks, "/v1/webhooks?cursor=x").expect(400),
        example("the webhooks as ingest", M::GET, webhooks, webhooks).by(As::Ingest).expect(403),
        example("delete a webhook", M::DELETE, webhook, format!("/v1/webhooks/{}", f.webhook_id)).expect(204),
        example("delete a missing webhook", M::DELETE, webhook, missing_hook).expect(404),
        example("delete a webhook anonymously", M::DELETE, webhook, missing_hook).by(As::Nobody).expect(401),
        example("the outbox", M::GET, outbox, outbox),
        example(
            "sent invoice emails of a tenant",
            M::GET,
            outbox,
            "/v1/outbox?status=sent&tenant=acme&kind=invoice.finalized&limit=1",
        ),
        example("an unknown outbox status", M::GET, outbox, "/v1/outbox?status=lost").expect(400),
        example("an invalid outbox cursor", M::GET, outbox, "/v1/outbox?cursor=x").expect(400),
        example("the outbox as the tenant", M::GET, outbox, outbox).by(As::AcmeTenant).expect(403),
        example("the outbox anonymously", M::GET, outbox, outbox).by(As::Nobody).expect(401),
        example("resend an email", M::POST, retry, format!("/v1/outbox/{}/retry", f.delivery_id)),
        example("retry a missing delivery", M::POST, retry, "/v1/outbox/acme.0/retry").expect(404),
        example("retry as ingest", M::POST, retry, format!("/v1/outbox/{}/retry", f.delivery_id))
            .by(As::Ingest)
            .expect(403),
        example("retry anonymously", M::POST, retry, format!("/v1/outbox/{}/retry", f.delivery_id))
            .by(As::Nobody)
            .expect(401),
    ]
}

fn job_and_audit_examples(f: &Fixture) -> Vec<Example> {
    use Method as M;
    let (run, audit) = ("/v1/billing/runs/{id}", "/v1/audit");
    let this_run = format!("/v1/billing/runs/{}", f.run_id);
    let missing_run = "/v1/billing/runs/run_00000000000000000000000000000000";
    let filtered =
        "/v1/audit?tenant=acme&action=tenant.created&since=2026-09-01T00:00:00Z&until=2026-12-01T00:00:00Z&limit=1";
    vec![
        example("a billing run", M::GET, run, this_run.clone()),
        example("a missing billing run", M::GET, run, missing_run).expect(404),
        example("not a billing run id", M::GET, run, "/v1/billing/runs/nothing").expect(404),
        example("a billing run as the tenant", M::GET, run, this_run.clone()).by(As::AcmeTenant).expect(403),
        example("a billing run anonymously", M::GET, run, this_run).by(As::Nobody).expect(401),
        example("the audit log", M::GET, audit, audit),
        example("one tenant's creations in the audit log", M::GET, audit, filtered),
        example("an invalid audit cursor", M::GET, audit, "/v1/audit?cursor=x").expect(400),
        example("an invalid audit action", M::GET, audit, "/v1/audit?action=Tenant%20Created").expect(400),
        example("an unknown audit parameter", M::GET, audit, "/v1/audit?actor=cli").expect(400),
        example("the audit log as the tenant", M::GET, audit, audit).by(As::AcmeTenant).expect(403),
        example("the audit log as ingest", M::GET, audit, audit).by(As::Ingest).expect(403),
        example("the audit log anonymously", M::GET, audit, audit).by(As::Nobody).expect(401),
    ]
}

fn ingest_and_tenant_examples() -> Vec<Example> {
    use Method as M;
    let too_many_records = json!({"records": (0..101).map(|i| record("acme", &format!("m{i}"))).collect::<Vec<_>>()});
    let too_many_events = Value::Array((0..101).map(|i| event(&format!("m{i}"))).collect());
    let big_tenant = json!({"id": "big", "name": "x".repeat(MIB + 1)}).to_string();
    let late_for_hooli =
        json!({"id": "late", "tenant_id": "hooli", "timestamp": "2026-10-31T12:00:00Z", "invocations": 1});
    let (usage, events, tenants, tenant, tenant_usage) =
        ("/v1/usage", "/api/v1/events", "/v1/tenants", "/v1/tenants/{id}", "/v1/tenants/{id}/usage");
    vec![
        example("liveness", M::GET, "/healthz", "/healthz").by(As::Nobody),
        example("readiness", M::GET, "/readyz", "/readyz").by(As::Nobody),
        example("metrics", M::GET, "/metrics", "/metrics").by(As::Nobody),
        example("one record", M::POST, usage, usage).by(As::Ingest).json(record("acme", "r1")),
        example("a batch with a duplicate", M::POST, usage, usage)
            .by(As::Ingest)
            .json(json!({"records": [record("acme", "r1"), record("acme", "r2")]})),
        example("an invalid record", M::POST, usage, usage).by(As::Ingest).json(record("nobody", "r3")).expect(422),
        example("a conflicting duplicate", M::POST, usage, usage)
            .by(As::Ingest)
            .json(json!({"records": [{"id": "r1", "tenant_id": "acme", "timestamp": "2026-11-27T11:59:00Z", "invocations": 7}]}))
            .expect(422),
        example("a record for a closed period", M::POST, usage, usage).by(As::Ingest).json(late_for_hooli).expect(422),
        example("a control character in a dimension", M::POST, usage, usage)
            .by(As::Ingest)
            .json(json!({"id": "r5", "tenant_id": "acme", "timestamp": "2026-11-27T11:59:00Z", "invocations": 1, "function": "a\u{7}b"}))
            .expect(422),
        example("malformed JSON", M::POST, usage, usage).by(As::Ingest).raw("application/json", "{").expect(400),
        example("an array body", M::POST, usage, usage).by(As::Ingest).raw("application/json", "[]").expect(400),
        example("too many records", M::POST, usage, usage).by(As::Ingest).json(too_many_records).expect(413),
        example("usage without a credential", M::POST, usage, usage).by(As::Nobody).json(record("acme", "r4")).expect(401),
        example("usage from a tenant key", M::POST, usage, usage).by(As::AcmeTenant).json(record("acme", "r4")).expect(403),
        example("one event", M::POST, events, events).by(As::Ingest).raw("application/cloudevents+json", event("e1").to_string()).expect(204),
        example("an event batch", M::POST, events, events)
            .by(As::Ingest)
            .raw("application/cloudevents-batch+json", json!([event("e2"), event("e3")]).to_string())
            .expect(204),
        example("events as application/json", M::POST, events, events).by(As::Ingest).json(json!([event("e4")])).expect(204),
        example("an invalid event", M::POST, events, events).by(As::Ingest).json(json!({"specversion": "0.3"})).expect(422),
        example("an unparseable envelope", M::POST, events, events).by(As::Ingest).raw("application/json", "[").expect(400),
        example("events as text", M::POST, events, events).by(As::Ingest).raw("text/plain", event("e5").to_string()).expect(415),
        example("too many events", M::POST, events, events).by(As::Ingest).json(too_many_events).expect(413),
        example("events without a credential", M::POST, events, events).by(As::Nobody).json(event("e6")).expect(401),
        example("events from a tenant key", M::POST, events, events).by(As::AcmeTenant).json(event("e6")).expect(403),
        example("create a tenant", M::POST, tenants, tenants)
            .json(json!({"id": "globex", "name": "Globex", "billing_emails": ["ap@globex.test"], "tax_rate": "8.875"}))
            .header("Idempotency-Key", "create-globex")
            .expect(201),
        example("replay a creation", M::POST, tenants, tenants)
            .json(json!({"id": "globex", "name": "Globex", "billing_emails": ["ap@globex.test"], "tax_rate": "8.875"}))
            .header("Idempotency-Key", "create-globex")
            .expect(201),
        example("reuse an idempotency key", M::POST, tenants, tenants)
            .json(json!({"id": "initech", "name": "Initech"}))
            .header("Idempotency-Key", "create-globex")
            .expect(422),
        example("an overlong idempotency key", M::POST, tenants, tenants)
            .json(json!({"id": "initech", "name": "Initech"}))
            .header("Idempotency-Key", "k".repeat(256))
            .expect(400),
        example("create a tenant on a plan", M::POST, tenants, tenants)
            .json(json!({"id": "initech", "name": "Initech", "plan": "payg", "late_usage_policy": "reject"}))
            .expect(201),
        example("an unknown plan", M::POST, tenants, tenants).json(json!({"id": "x", "name": "X", "plan": "gold"})).expect(422),
        example("an existing id", M::POST, tenants, tenants).json(json!({"id": "acme", "name": "Again"})).expect(409),
        example("an unknown tenant field", M::POST, tenants, tenants).json(json!({"id": "x", "name": "X", "colour": 1})).expect(422),
        example("an invalid time zone", M::POST, tenants, tenants).json(json!({"id": "x", "name": "X", "timezone": "Mars/Base"})).expect(422),
        example("a control character in a name", M::POST, tenants, tenants).json(json!({"id": "x", "name": "X\u{0}Y"})).expect(422),
        example("a malformed tenant", M::POST, tenants, tenants).raw("application/json", "{").expect(400),
        example("an oversized tenant body", M::POST, tenants, tenants).raw("application/json", big_tenant.clone()).expect(413),
        example("create as ingest", M::POST, tenants, tenants).by(As::Ingest).json(json!({"id": "x", "name": "X"})).expect(403),
        example("create anonymously", M::POST, tenants, tenants).by(As::Nobody).json(json!({"id": "x", "name": "X"})).expect(401),
        example("a full page", M::GET, tenants, "/v1/tenants?limit=1"),
        example("the next page", M::GET, tenants, "/v1/tenants?limit=1&cursor=acme"),
        example("an invalid cursor", M::GET, tenants, "/v1/tenants?cursor=Not%20An%20Id").expect(400),
        example("an unknown list parameter", M::GET, tenants, "/v1/tenants?page=2").expect(400),
        example("list as ingest", M::GET, tenants, tenants).by(As::Ingest).expect(403),
        example("list anonymously", M::GET, tenants, tenants).by(As::Nobody).expect(401),
        example("read a tenant on a plan", M::GET, tenant, "/v1/tenants/acme"),
        example("read a tenant without a plan", M::GET, tenant, "/v1/tenants/globex"),
        example("read one's own tenant", M::GET, tenant, "/v1/tenants/acme").by(As::AcmeTenant),
        example("read another tenant", M::GET, tenant, "/v1/tenants/globex").by(As::AcmeTenant).expect(404),
        example("read a tenant as ingest", M::GET, tenant, "/v1/tenants/acme").by(As::Ingest).expect(404),
        example("read a missing tenant", M::GET, tenant, "/v1/tenants/nobody").expect(404),
        example("read anonymously", M::GET, tenant, "/v1/tenants/acme").by(As::Nobody).expect(401),
        example("patch a tenant", M::PATCH, tenant, "/v1/tenants/globex")
            .json(json!({"name": "Globex Corp", "late_usage_policy": "reject", "timezone": null}))
            .header("Idempotency-Key", "patch-globex"),
        example("replay a patch", M::PATCH, tenant, "/v1/tenants/globex")
            .json(json!({"name": "Globex Corp", "late_usage_policy": "reject", "timezone": null}))
            .header("Idempotency-Key", "patch-globex"),
        example("patch a missing tenant", M::PATCH, tenant, "/v1/tenants/nobody").json(json!({"name": "N"})).expect(404),
        example("an unknown patch field", M::PATCH, tenant, "/v1/tenants/globex").json(json!({"plan": "x"})).expect(422),
        example("an invalid tax rate", M::PATCH, tenant, "/v1/tenants/globex").json(json!({"tax_rate": "101"})).expect(422),
        example("a control character in an address", M::PATCH, tenant, "/v1/tenants/globex")
            .json(json!({"address": ["1 Main St\nSpringfield"]}))
            .expect(422),
        example("a malformed patch", M::PATCH, tenant, "/v1/tenants/globex").raw("application/json", "{").expect(400),
        example("an oversized patch", M::PATCH, tenant, "/v1/tenants/globex").raw("application/json", big_tenant).expect(413),
        example("patch as ingest", M::PATCH, tenant, "/v1/tenants/globex").by(As::Ingest).json(json!({})).expect(403),
        example("patch anonymously", M::PATCH, tenant, "/v1/tenants/globex").by(As::Nobody).json(json!({})).expect(401),
        example("usage of the current period", M::GET, tenant_usage, "/v1/tenants/acme/usage"),
        example("usage by function and hour", M::GET, tenant_usage,
            "/v1/tenants/acme/usage?from=2026-11-27T00:00:00Z&to=2026-11-28T00:00:00Z&granularity=hour&group_by=function"),
        example("usage by region as the tenant", M::GET, tenant_usage, "/v1/tenants/acme/usage?group_by=region&granularity=month")
            .by(As::AcmeTenant),
        example("an unknown granularity", M::GET, tenant_usage, "/v1/tenants/acme/usage?granularity=week").expect(400),
        example("an unaligned range", M::GET, tenant_usage,
            "/v1/tenants/acme/usage?from=2026-11-27T00:01:00Z&to=2026-11-28T00:00:00Z").expect(400),
        example("an unknown usage parameter", M::GET, tenant_usage, "/v1/tenants/acme/usage?meter=cpu").expect(400),
        example("usage of a missing tenant", M::GET, tenant_usage, "/v1/tenants/nobody/usage").expect(404),
        example("usage anonymously", M::GET, tenant_usage, "/v1/tenants/acme/usage").by(As::Nobody).expect(401),
    ]
}

fn plan_and_billing_examples() -> Vec<Example> {
    use Method as M;
    let huge = "9".repeat(28);
    let big_body = format!("{{\"plan\": \"payg\", \"usage\": {{}}, \"pad\": \"{}\"}}", "x".repeat(MIB));
    let (current, subscription, plans, plan, quotes, run) = (
        "/v1/tenants/{id}/usage/current",
        "/v1/tenants/{id}/subscription",
        "/v1/plans",
        "/v1/plans/{id}",
        "/v1/quotes",
        "/v1/billing/run",
    );
    vec![
        example("usage so far on a plan", M::GET, current, "/v1/tenants/acme/usage/current"),
        example("usage so far without a plan", M::GET, current, "/v1/tenants/globex/usage/current"),
        example("usage so far as the tenant", M::GET, current, "/v1/tenants/acme/usage/current").by(As::AcmeTenant),
        example("usage so far of another tenant", M::GET, current, "/v1/tenants/globex/usage/current")
            .by(As::AcmeTenant)
            .expect(404),
        example("usage so far as ingest", M::GET, current, "/v1/tenants/acme/usage/current").by(As::Ingest).expect(404),
        example("usage so far of a missing tenant", M::GET, current, "/v1/tenants/nobody/usage/current").expect(404),
        example("usage so far anonymously", M::GET, current, "/v1/tenants/acme/usage/current")
            .by(As::Nobody)
            .expect(401),
        example("unbilled usage entries", M::GET, "/v1/tenants/{id}/unbilled", "/v1/tenants/globex/unbilled"),
        example("unbilled usage as the tenant", M::GET, "/v1/tenants/{id}/unbilled", "/v1/tenants/acme/unbilled")
            .by(As::AcmeTenant)
            .expect(403),
        example(
            "unbilled usage of a missing tenant",
            M::GET,
            "/v1/tenants/{id}/unbilled",
            "/v1/tenants/nobody/unbilled",
        )
        .expect(404),
        example("subscribe a tenant without a plan", M::PUT, subscription, "/v1/tenants/globex/subscription")
            .json(json!({"plan": "payg"}))
            .header("Idempotency-Key", "subscribe-globex"),
        example("replay a subscription", M::PUT, subscription, "/v1/tenants/globex/subscription")
            .json(json!({"plan": "payg"}))
            .header("Idempotency-Key", "subscribe-globex"),
        example("change plan at the next period", M::PUT, subscription, "/v1/tenants/acme/subscription")
            .json(json!({"plan": "committed", "timing": "next_period"})),
        example("read a tenant with a scheduled change", M::GET, "/v1/tenants/{id}", "/v1/tenants/acme"),
        example("change plan now", M::PUT, subscription, "/v1/tenants/globex/subscription")
            .json(json!({"plan": "committed", "timing": "immediately"})),
        example("change currency mid-period", M::PUT, subscription, "/v1/tenants/acme/subscription")
            .json(json!({"plan": "euro", "timing": "immediately"}))
            .expect(422),
        example("subscribe to an unknown plan", M::PUT, subscription, "/v1/tenants/acme/subscription")
            .json(json!({"plan": "gold"}))
            .expect(422),
        example("an unknown timing", M::PUT, subscription, "/v1/tenants/acme/subscription")
            .json(json!({"plan": "payg", "timing": "tomorrow"}))
            .expect(422),
        example("a malformed subscription", M::PUT, subscription, "/v1/tenants/acme/subscription")
            .raw("application/json", "{")
            .expect(400),
        example("subscribe a missing tenant", M::PUT, subscription, "/v1/tenants/nobody/subscription")
            .json(json!({"plan": "payg"}))
            .expect(404),
        example("subscribe as the tenant", M::PUT, subscription, "/v1/tenants/acme/subscription")
            .by(As::AcmeTenant)
            .json(json!({"plan": "payg"}))
            .expect(403),
        example("subscribe anonymously", M::PUT, subscription, "/v1/tenants/acme/subscription")
            .by(As::Nobody)
            .json(json!({"plan": "payg"}))
            .expect(401),
        example("the price list", M::GET, plans, plans),
        example("the price list as ingest", M::GET, plans, plans).by(As::Ingest),
        example("the price list as the tenant", M::GET, plans, plans).by(As::AcmeTenant),
        example("the price list anonymously", M::GET, plans, plans).by(As::Nobody).expect(401),
        example("a graduated plan", M::GET, plan, "/v1/plans/payg"),
        example("a volume and package plan", M::GET, plan, "/v1/plans/committed").by(As::AcmeTenant),
        example("a missing plan", M::GET, plan, "/v1/plans/gold").expect(404),
        example("a plan anonymously", M::GET, plan, "/v1/plans/payg").by(As::Nobody).expect(401),
        example("a quote", M::POST, quotes, quotes)
            .by(As::AcmeTenant)
            .json(json!({"plan": "payg", "usage": {"invocations": 3_000_000, "memory_gb_seconds": "540000"}})),
        example("a quote under a minimum", M::POST, quotes, quotes)
            .json(json!({"plan": "committed", "usage": {"invocations": "20000000", "cpu_cycles": 1}})),
        example("a quote past 28 digits, its precise amount marked", M::POST, quotes, quotes)
            .json(json!({"plan": "payg", "usage": {"memory_gb_seconds": "760015049399880.000599997"}})),
        example("a quantity of 29 significant digits", M::POST, quotes, quotes)
            .json(json!({"plan": "payg", "usage": {"invocations": "11111111111111111111111111111"}}))
            .expect(422),
        example("a quote on an unknown plan", M::POST, quotes, quotes)
            .json(json!({"plan": "gold", "usage": {}}))
            .expect(422),
        example("a quote for an unknown meter", M::POST, quotes, quotes)
            .json(json!({"plan": "payg", "usage": {"gpu_seconds": 1}}))
            .expect(422),
        example("a negative quantity", M::POST, quotes, quotes)
            .json(json!({"plan": "payg", "usage": {"invocations": -1}}))
            .expect(422),
        example("a quote too large to price", M::POST, quotes, quotes)
            .json(json!({"plan": "euro", "usage": {"memory_gb_seconds": huge}}))
            .expect(422),
        example("a quote without usage", M::POST, quotes, quotes).json(json!({"plan": "payg"})).expect(422),
        example("a malformed quote", M::POST, quotes, quotes).raw("application/json", "{").expect(400),
        example("an oversized quote", M::POST, quotes, quotes).raw("application/json", big_body.clone()).expect(413),
        example("a quote anonymously", M::POST, quotes, quotes)
            .by(As::Nobody)
            .json(json!({"plan": "payg", "usage": {}}))
            .expect(401),
        example("run billing now", M::POST, run, run).json(json!({})).expect(202),
        example("run billing without a body", M::POST, run, run).expect(202),
        example("run billing as of a past instant", M::POST, run, run)
            .json(json!({"as_of": "2026-11-01T02:00:00Z"}))
            .header("Idempotency-Key", "run-november")
            .expect(202),
        example("replay a billing run", M::POST, run, run)
            .json(json!({"as_of": "2026-11-01T02:00:00Z"}))
            .header("Idempotency-Key", "run-november")
            .expect(202),
        example("run billing in the future", M::POST, run, run)
            .json(json!({"as_of": "2030-01-01T00:00:00Z"}))
            .expect(422),
        example("run billing centuries ahead", M::POST, run, run)
            .json(json!({"as_of": "2381-09-09T12:04:21-12:26"}))
            .expect(422),
        example("an unknown run field", M::POST, run, run).json(json!({"tenant": "acme"})).expect(422),
        example("a malformed run", M::POST, run, run).raw("application/json", "{").expect(400),
        example("an oversized run", M::POST, run, run).raw("application/json", big_body).expect(413),
        example("run billing as the tenant", M::POST, run, run).by(As::AcmeTenant).json(json!({})).expect(403),
        example("run billing as ingest", M::POST, run, run).by(As::Ingest).json(json!({})).expect(403),
        example("run billing anonymously", M::POST, run, run).by(As::Nobody).json(json!({})).expect(401),
    ]
}

fn invoice_and_credit_examples(f: &Fixture) -> Vec<Example> {
    use Method as M;
    let (list, invoice, void, paid, credits) = (
        "/v1/tenants/{id}/invoices",
        "/v1/invoices/{id}",
        "/v1/invoices/{id}/void",
        "/v1/invoices/{id}/mark-paid",
        "/v1/tenants/{id}/credits",
    );
    let (acme_october, hooli_october, hooli_september) =
        (&f.acme_invoices[0], &f.hooli_invoices[0], &f.hooli_invoices[1]);
    let grant =
        json!({"amount": "50.00", "currency": "USD", "reason": "goodwill", "expires_at": "2027-12-31T00:00:00Z"});
    let big_body = format!("\"{}\"", "x".repeat(MIB));
    vec![
        example("a page of invoices", M::GET, list, "/v1/tenants/acme/invoices?limit=1"),
        example(
            "the next page of invoices",
            M::GET,
            list,
            format!("/v1/tenants/acme/invoices?limit=1&cursor={}", f.acme_cursor),
        ),
        example("one's own invoices", M::GET, list, "/v1/tenants/acme/invoices").by(As::AcmeTenant),
        example("another tenant's invoices", M::GET, list, "/v1/tenants/hooli/invoices").by(As::AcmeTenant).expect(404),
        example("invoices as ingest", M::GET, list, "/v1/tenants/acme/invoices").by(As::Ingest).expect(404),
        example("invoices of a tenant that does not exist", M::GET, list, "/v1/tenants/nobody/invoices").expect(404),
        example("an invalid invoice cursor", M::GET, list, "/v1/tenants/acme/invoices?cursor=acme").expect(400),
        example("an unknown invoice parameter", M::GET, list, "/v1/tenants/acme/invoices?paid=true").expect(400),
        example("finalized period invoices", M::GET, list, "/v1/tenants/acme/invoices?status=finalized&kind=period"),
        example("an invoice status that is none", M::GET, list, "/v1/tenants/acme/invoices?status=overdue").expect(400),
        example("invoices anonymously", M::GET, list, "/v1/tenants/acme/invoices").by(As::Nobody).expect(401),
        example("an invoice with an adjustment", M::GET, invoice, format!("/v1/invoices/{acme_october}")),
        example("a taxed invoice with credits", M::GET, invoice, format!("/v1/invoices/{hooli_september}")),
        example("one's own invoice", M::GET, invoice, format!("/v1/invoices/{acme_october}")).by(As::AcmeTenant),
        example("another tenant's invoice", M::GET, invoice, format!("/v1/invoices/{hooli_october}"))
            .by(As::AcmeTenant)
            .expect(404),
        example("an invoice as ingest", M::GET, invoice, format!("/v1/invoices/{acme_october}"))
            .by(As::Ingest)
            .expect(404),
        example("a missing invoice", M::GET, invoice, "/v1/invoices/acme.00000000-0000-0000-0000-000000000000")
            .expect(404),
        example("an invoice id without a tenant", M::GET, invoice, "/v1/invoices/nothing").expect(404),
        example("an invoice anonymously", M::GET, invoice, format!("/v1/invoices/{acme_october}"))
            .by(As::Nobody)
            .expect(401),
        example("mark an invoice paid", M::POST, paid, format!("/v1/invoices/{hooli_september}/mark-paid"))
            .header("Idempotency-Key", "pay-september"),
        example("replay a payment", M::POST, paid, format!("/v1/invoices/{hooli_september}/mark-paid"))
            .header("Idempotency-Key", "pay-september"),
        example("pay a paid invoice", M::POST, paid, format!("/v1/invoices/{hooli_september}/mark-paid")).expect(409),
        example("reuse a payment key", M::POST, paid, format!("/v1/invoices/{hooli_october}/mark-paid"))
            .header("Idempotency-Key", "pay-september")
            .expect(422),
        example("an invalid payment key", M::POST, paid, format!("/v1/invoices/{hooli_october}/mark-paid"))
            .header("Idempotency-Key", "")
            .expect(400),
        example("an oversized payment body", M::POST, paid, format!("/v1/invoices/{hooli_october}/mark-paid"))
            .raw("application/json", big_body.clone())
            .expect(413),
        example(
            "pay a missing invoice",
            M::POST,
            paid,
            "/v1/invoices/hooli.00000000-0000-0000-0000-000000000000/mark-paid",
        )
        .expect(404),
        example("pay as the tenant", M::POST, paid, format!("/v1/invoices/{acme_october}/mark-paid"))
            .by(As::AcmeTenant)
            .expect(403),
        example("pay anonymously", M::POST, paid, format!("/v1/invoices/{acme_october}/mark-paid"))
            .by(As::Nobody)
            .expect(401),
        example("void a paid invoice", M::POST, void, format!("/v1/invoices/{hooli_september}/void")).json(json!({})),
        example("void a finalized invoice", M::POST, void, format!("/v1/invoices/{hooli_october}/void"))
            .header("Idempotency-Key", "void-october"),
        example("replay a void", M::POST, void, format!("/v1/invoices/{hooli_october}/void"))
            .header("Idempotency-Key", "void-october"),
        example("void a void invoice", M::POST, void, format!("/v1/invoices/{hooli_october}/void")).expect(409),
        example("pay a void invoice", M::POST, paid, format!("/v1/invoices/{hooli_october}/mark-paid")).expect(409),
        example("reuse a void key", M::POST, void, format!("/v1/invoices/{acme_october}/void"))
            .header("Idempotency-Key", "void-october")
            .expect(422),
        example("an invalid void key", M::POST, void, format!("/v1/invoices/{acme_october}/void"))
            .header("Idempotency-Key", "k".repeat(256))
            .expect(400),
        example("an oversized void body", M::POST, void, format!("/v1/invoices/{acme_october}/void"))
            .raw("application/json", big_body.clone())
            .expect(413),
        example("void a missing invoice", M::POST, void, "/v1/invoices/nothing/void").expect(404),
        example("void as ingest", M::POST, void, format!("/v1/invoices/{acme_october}/void"))
            .by(As::Ingest)
            .expect(403),
        example("void anonymously", M::POST, void, format!("/v1/invoices/{acme_october}/void"))
            .by(As::Nobody)
            .expect(401),
        example("grant a credit", M::POST, credits, "/v1/tenants/acme/credits")
            .json(grant.clone())
            .header("Idempotency-Key", "grant-acme")
            .expect(201),
        example("replay a grant", M::POST, credits, "/v1/tenants/acme/credits")
            .json(grant.clone())
            .header("Idempotency-Key", "grant-acme")
            .expect(201),
        example("reuse a grant key", M::POST, credits, "/v1/tenants/acme/credits")
            .json(json!({"amount": "1000", "currency": "JPY", "reason": "yen"}))
            .header("Idempotency-Key", "grant-acme")
            .expect(422),
        example("a grant in a currency the tenant is not billed in", M::POST, credits, "/v1/tenants/acme/credits")
            .json(json!({"amount": "1000", "currency": "JPY", "reason": "yen", "expires_at": null}))
            .expect(422),
        example("too many decimals", M::POST, credits, "/v1/tenants/acme/credits")
            .json(json!({"amount": "0.001", "currency": "USD", "reason": "tiny"}))
            .expect(422),
        example("an amount as a number", M::POST, credits, "/v1/tenants/acme/credits")
            .json(json!({"amount": 5, "currency": "USD", "reason": "number"}))
            .expect(422),
        example("an unknown currency", M::POST, credits, "/v1/tenants/acme/credits")
            .json(json!({"amount": "5", "currency": "usd", "reason": "lower case"}))
            .expect(422),
        example("a malformed grant", M::POST, credits, "/v1/tenants/acme/credits")
            .raw("application/json", "{")
            .expect(400),
        example("an oversized grant", M::POST, credits, "/v1/tenants/acme/credits")
            .raw("application/json", big_body)
            .expect(413),
        example("grant to a missing tenant", M::POST, credits, "/v1/tenants/nobody/credits")
            .json(grant.clone())
            .expect(404),
        example("grant as the tenant", M::POST, credits, "/v1/tenants/acme/credits")
            .by(As::AcmeTenant)
            .json(grant.clone())
            .expect(403),
        example("grant anonymously", M::POST, credits, "/v1/tenants/acme/credits")
            .by(As::Nobody)
            .json(grant)
            .expect(401),
        example("a ledger with consumption and restoration", M::GET, credits, "/v1/tenants/hooli/credits"),
        example("one's own ledger", M::GET, credits, "/v1/tenants/acme/credits").by(As::AcmeTenant),
        example("another tenant's ledger", M::GET, credits, "/v1/tenants/hooli/credits").by(As::AcmeTenant).expect(404),
        example("a ledger as ingest", M::GET, credits, "/v1/tenants/acme/credits").by(As::Ingest).expect(404),
        example("the ledger of a missing tenant", M::GET, credits, "/v1/tenants/nobody/credits").expect(404),
        example("a ledger anonymously", M::GET, credits, "/v1/tenants/acme/credits").by(As::Nobody).expect(401),
    ]
}

fn credit_revocation_examples(f: &Fixture) -> Vec<Example> {
    use Method as M;
    let revoke = "/v1/tenants/{id}/credits/{grant_id}/revoke";
    let path = format!("/v1/tenants/acme/credits/{}/revoke", f.acme_grant_id);
    let part = json!({"amount": "5.00", "reason": "partly owed"});
    let the_rest = json!({"reason": "owed no more"});
    vec![
        example("revoke part of a grant", M::POST, revoke, &path)
            .json(part.clone())
            .header("Idempotency-Key", "revoke-acme")
            .expect(201),
        example("replay a revocation", M::POST, revoke, &path)
            .json(part.clone())
            .header("Idempotency-Key", "revoke-acme")
            .expect(201),
        example("revoke finer than the currency", M::POST, revoke, &path)
            .json(json!({"amount": "0.001", "reason": "a tenth of a cent"}))
            .expect(422),
        example("revoke more than is left", M::POST, revoke, &path)
            .json(json!({"amount": "15.01", "reason": "a cent too much"}))
            .expect(422),
        example("revoke as the tenant", M::POST, revoke, &path).by(As::AcmeTenant).json(the_rest.clone()).expect(403),
        example("revoke anonymously", M::POST, revoke, &path).by(As::Nobody).json(the_rest.clone()).expect(401),
        example("a malformed revocation", M::POST, revoke, &path).raw("application/json", "{").expect(400),
        example("a revocation with an unknown field", M::POST, revoke, &path)
            .json(json!({"reason": "x", "everything": true}))
            .expect(422),
        example("revoke an unknown grant", M::POST, revoke, "/v1/tenants/acme/credits/nope/revoke")
            .json(the_rest.clone())
            .expect(404),
        example(
            "revoke at a missing tenant",
            M::POST,
            revoke,
            format!("/v1/tenants/nobody/credits/{}/revoke", f.acme_grant_id),
        )
        .json(the_rest.clone())
        .expect(404),
        example("revoke the rest of a grant", M::POST, revoke, &path).json(the_rest.clone()).expect(201),
        example("revoke with nothing left", M::POST, revoke, &path).json(the_rest).expect(422),
    ]
}

fn rendering_and_correction_examples(f: &Fixture) -> Vec<Example> {
    use Method as M;
    let (html, pdf, explain, corrections) = (
        "/v1/invoices/{id}/html",
        "/v1/invoices/{id}/pdf",
        "/v1/invoices/{id}/lines/{n}/explain",
        "/v1/usage/corrections",
    );
    let (acme_october, hooli_september) = (&f.acme_invoices[0], &f.hooli_invoices[1]);
    let correction = |id: &str, action: &str, replacement: Option<Value>| {
        let mut body = json!({"tenant_id": "acme", "id": id, "action": action, "reason": "runtime double counted"});
        if let Some(replacement) = replacement {
            body["replacement"] = replacement;
        }
        body
    };
    let replace_r2 = correction("r2", "replace", Some(json!({"invocations": 2, "function": "resize"})));
    let void_event =
        json!({"tenant_id": "acme", "source": "lambda/eu", "id": "e1", "action": "void", "reason": "test"});
    vec![
        example("an invoice as HTML", M::GET, html, format!("/v1/invoices/{acme_october}/html")),
        example("one's own invoice as HTML", M::GET, html, format!("/v1/invoices/{acme_october}/html"))
            .by(As::AcmeTenant),
        example("another tenant's invoice as HTML", M::GET, html, format!("/v1/invoices/{hooli_september}/html"))
            .by(As::AcmeTenant)
            .expect(404),
        example("a missing invoice as HTML", M::GET, html, "/v1/invoices/nothing/html").expect(404),
        example("HTML anonymously", M::GET, html, format!("/v1/invoices/{acme_october}/html"))
            .by(As::Nobody)
            .expect(401),
        example("an invoice as PDF", M::GET, pdf, format!("/v1/invoices/{hooli_september}/pdf")),
        example("one's own invoice as PDF", M::GET, pdf, format!("/v1/invoices/{acme_october}/pdf")).by(As::AcmeTenant),
        example("another tenant's invoice as PDF", M::GET, pdf, format!("/v1/invoices/{hooli_september}/pdf"))
            .by(As::AcmeTenant)
            .expect(404),
        example("a missing invoice as PDF", M::GET, pdf, "/v1/invoices/acme.0/pdf").expect(404),
        example("PDF anonymously", M::GET, pdf, format!("/v1/invoices/{acme_october}/pdf")).by(As::Nobody).expect(401),
        example("explain a usage line", M::GET, explain, format!("/v1/invoices/{acme_october}/lines/1/explain")),
        example("explain an adjustment", M::GET, explain, format!("/v1/invoices/{acme_october}/lines/4/explain"))
            .by(As::AcmeTenant),
        example("explain a base fee", M::GET, explain, format!("/v1/invoices/{hooli_september}/lines/4/explain")),
        example("explain a missing line", M::GET, explain, format!("/v1/invoices/{acme_october}/lines/99/explain"))
            .expect(404),
        example(
            "explain a line that is not a number",
            M::GET,
            explain,
            format!("/v1/invoices/{acme_october}/lines/x/explain"),
        )
        .expect(404),
        example(
            "explain another tenant's line",
            M::GET,
            explain,
            format!("/v1/invoices/{hooli_september}/lines/1/explain"),
        )
        .by(As::AcmeTenant)
        .expect(404),
        example("explain anonymously", M::GET, explain, format!("/v1/invoices/{acme_october}/lines/1/explain"))
            .by(As::Nobody)
            .expect(401),
        example("replace a record", M::POST, corrections, corrections)
            .by(As::Ingest)
            .json(replace_r2.clone())
            .header("Idempotency-Key", "correct-r2"),
        example("replay a correction", M::POST, corrections, corrections)
            .by(As::Ingest)
            .json(replace_r2)
            .header("Idempotency-Key", "correct-r2"),
        example("void an event", M::POST, corrections, corrections).json(void_event.clone()),
        example("void a void record", M::POST, corrections, corrections).by(As::Ingest).json(void_event).expect(409),
        example("correct an invoiced period", M::POST, corrections, corrections).by(As::Ingest).json(correction(
            "o2",
            "replace",
            Some(json!({"invocations": 2_000_000})),
        )),
        example("correct a record older than the allowed lateness", M::POST, corrections, corrections)
            .by(As::Ingest)
            .json(correction("s1", "replace", Some(json!({"invocations": 1_000_000}))))
            .expect(422),
        example("correct a closed period", M::POST, corrections, corrections)
            .by(As::Ingest)
            .json(json!({"tenant_id": "hooli", "id": "h1", "action": "void", "reason": "test traffic"}))
            .expect(422),
        example("correct a missing record", M::POST, corrections, corrections)
            .by(As::Ingest)
            .json(correction("nope", "void", None))
            .expect(404),
        example("correct for an invalid tenant id", M::POST, corrections, corrections)
            .by(As::Ingest)
            .json(json!({"tenant_id": "Not A Tenant", "id": "r1", "action": "void", "reason": "x"}))
            .expect(404),
        example("an invalid correction action", M::POST, corrections, corrections)
            .by(As::Ingest)
            .json(correction("r1", "delete", None))
            .expect(422),
        example("a replacement without quantities", M::POST, corrections, corrections)
            .by(As::Ingest)
            .json(correction("r1", "replace", Some(json!({"function": "resize"}))))
            .expect(422),
        example("a fractional replacement count", M::POST, corrections, corrections)
            .by(As::Ingest)
            .json(correction("r1", "replace", Some(json!({"invocations": 1.5}))))
            .expect(422),
        example("a control character in a replacement", M::POST, corrections, corrections)
            .by(As::Ingest)
            .json(correction("r1", "replace", Some(json!({"invocations": 1, "region": "eu\u{1b}"}))))
            .expect(422),
        example("an invalid record id to correct", M::POST, corrections, corrections)
            .by(As::Ingest)
            .json(correction("", "void", None))
            .expect(422),
        example("a blank correction reason", M::POST, corrections, corrections)
            .by(As::Ingest)
            .json(json!({"tenant_id": "acme", "id": "r1", "action": "void", "reason": " "}))
            .expect(422),
        example("an unknown correction field", M::POST, corrections, corrections)
            .by(As::Ingest)
            .json(json!({"tenant_id": "acme", "id": "r1", "action": "void", "reason": "x", "timestamp": "now"}))
            .expect(422),
        example("a malformed correction", M::POST, corrections, corrections)
            .by(As::Ingest)
            .raw("application/json", "{")
            .expect(400),
        example("an oversized correction", M::POST, corrections, corrections)
            .by(As::Ingest)
            .raw("application/json", format!("\"{}\"", "x".repeat(MIB)))
            .expect(413),
        example("correct as the tenant", M::POST, corrections, corrections)
            .by(As::AcmeTenant)
            .json(correction("r1", "void", None))
            .expect(403),
        example("correct anonymously", M::POST, corrections, corrections)
            .by(As::Nobody)
            .json(correction("r1", "void", None))
            .expect(401),
    ]
}

/// Quotas, budgets and entitlements of `acme` (`payg`, no hard budgets) and `hooli` (`committed`).
fn quota_examples() -> Vec<Example> {
    use Method as M;
    let (quotas, budgets, entitlements) =
        ("/v1/tenants/{id}/quotas", "/v1/tenants/{id}/budgets", "/v1/tenants/{id}/entitlements");
    let cap = json!({"quotas": [
        {"id": "inv-cap", "meter": "invocations", "limit": "5000000", "thresholds": [50, 80, 100], "hard": true},
        {"id": "spend", "meter": "spend", "limit": "250.00", "thresholds": [80, 100], "hard": false}]});
    let budget = |id: &str, hard: bool| json!({"budgets": [{"id": id, "meter": "spend", "limit": "100.00", "thresholds": [50, 90], "hard": hard}]});
    vec![
        example("set quotas", M::PUT, quotas, "/v1/tenants/acme/quotas").json(cap.clone()),
        example("set quotas again, idempotently", M::PUT, quotas, "/v1/tenants/acme/quotas")
            .json(cap)
            .header("idempotency-key", "quotas-1"),
        example("an invalid quota", M::PUT, quotas, "/v1/tenants/acme/quotas")
            .json(json!({"quotas": [{"id": "x", "meter": "gpu", "limit": "1"}]}))
            .expect(422),
        example("quotas set by a tenant", M::PUT, quotas, "/v1/tenants/acme/quotas")
            .by(As::AcmeTenant)
            .json(json!({"quotas": []}))
            .expect(403),
        example("read quotas", M::GET, quotas, "/v1/tenants/acme/quotas"),
        example("one's own quotas", M::GET, quotas, "/v1/tenants/acme/quotas").by(As::AcmeTenant),
        example("quotas of another tenant", M::GET, quotas, "/v1/tenants/hooli/quotas").by(As::AcmeTenant).expect(404),
        example("a budget", M::PUT, budgets, "/v1/tenants/acme/budgets")
            .by(As::AcmeTenant)
            .json(budget("monthly", false)),
        example("a hard budget the plan does not allow", M::PUT, budgets, "/v1/tenants/acme/budgets")
            .by(As::AcmeTenant)
            .json(budget("monthly", true))
            .expect(422),
        example("a budget with a quota's id", M::PUT, budgets, "/v1/tenants/acme/budgets")
            .by(As::AcmeTenant)
            .json(budget("spend", false))
            .expect(409),
        example("budgets set by ingest", M::PUT, budgets, "/v1/tenants/acme/budgets")
            .by(As::Ingest)
            .json(budget("monthly", false))
            .expect(403),
        example("read budgets", M::GET, budgets, "/v1/tenants/acme/budgets").by(As::AcmeTenant),
        example("entitlements for a runtime", M::GET, entitlements, "/v1/tenants/acme/entitlements").by(As::Ingest),
        example("one meter's entitlements", M::GET, entitlements, "/v1/tenants/acme/entitlements?meter=spend"),
        example("entitlements of an unknown meter", M::GET, entitlements, "/v1/tenants/acme/entitlements?meter=gpu")
            .expect(400),
        example("another tenant's entitlements", M::GET, entitlements, "/v1/tenants/hooli/entitlements")
            .by(As::AcmeTenant)
            .expect(404),
    ]
}

/// One MiB, the body limit of every route but ingest.
const MIB: usize = 1024 * 1024;

/// A plan in another currency than the pricing directory's (all USD), with a price high
/// enough that a large quote overflows.
const EURO_PLAN: &str = r#"
id = "euro"
name = "Euro pay as you go"
currency = "EUR"

[[charge]]
meter = "invocations"
model = "per_unit"
price_per = 1000000
unit_price = "0.18"

[[charge]]
meter = "memory_gb_seconds"
model = "per_unit"
unit_price = "1000"
"#;

/// What the examples need besides the service: a `tenant`-role key for `acme`, and invoices
/// (newest period first) with a cursor to page through them.
struct Fixture {
    tenant_key: String,
    acme_invoices: Vec<String>,
    acme_cursor: String,
    hooli_invoices: Vec<String>,
    /// A registered webhook endpoint (the examples delete it).
    webhook_id: String,
    /// An outbox delivery (the acme invoice email, sent as an `.eml` file).
    delivery_id: String,
    /// The last billing run.
    run_id: String,
    /// A 20.00 USD grant of `acme` no invoice has consumed (the examples revoke it).
    acme_grant_id: String,
}

/// The service the examples run on (SQLite or PostgreSQL): small ingest limits (so 413 is cheap), no time
/// travel (so a future `as_of` is refused), plan `euro` besides `pricing/`, and a billing
/// history made through the API with the clock moved back:
/// - `acme` (UTC, `payg`) from 2026-09-15, with usage in September, some of it arriving
///   after September was invoiced, so its October invoice has an adjustment line;
/// - `hooli` (`committed`, 8.875 % tax, late usage `reject`) from 2026-09-15, with a record
///   in September and a 100.00 credit its September invoice consumes.
///
/// Both are invoiced for September and October; the clock then reads [`test_now`] again.
async fn example_app(backend: Backend) -> (TestApp, Fixture) {
    use crate::billing::{admin_post, at, run_billing_and_wait, usage_at};
    let app = spawn_app_with(backend, |s| {
        s.ingest.max_records_per_request = 100;
        s.ingest.max_body_bytes = 256 * 1024;
        s.allow_time_travel = false;
    })
    .await;
    let euro = tally::rate::PricingPlan::from_toml("euro.toml", EURO_PLAN).expect("the euro plan parses");
    let version = tally::store::NewPlanVersion {
        plan_id: euro.id(),
        content_hash: euro.content_hash(),
        definition: &euro.canonical_toml(),
        currency: euro.currency().code(),
    };
    app.store.record_plan_version(&version, test_now()).await.expect("the euro plan is recorded");
    app.clock.set(at("2026-09-15T00:00:00Z"));
    for body in [
        json!({"id": "acme", "name": "Acme", "billing_email": "ap@acme.test", "plan": "payg"}),
        json!({"id": "hooli", "name": "Hooli", "plan": "committed", "tax_rate": "8.875", "late_usage_policy": "reject",
            "address": ["1 Main St", "Springfield"], "tax_id": "US-123"}),
    ] {
        assert_eq!(admin_post(&app, "/v1/tenants", &body).await.status(), 201, "{body}");
    }
    let grant = json!({"amount": "100.00", "currency": "USD", "reason": "welcome"});
    assert_eq!(admin_post(&app, "/v1/tenants/hooli/credits", &grant).await.status(), 201);
    usage_at(&app, "acme", "2026-09-20T00:00:00Z", &[("s1", "2026-09-19T00:00:00Z", 2_000_000)]).await;
    usage_at(&app, "hooli", "2026-09-20T00:00:00Z", &[("h1", "2026-09-19T00:00:00Z", 5)]).await;
    app.clock.set(at("2026-10-01T03:00:00Z"));
    run_billing_and_wait(&app, "2026-10-01T02:00:00Z").await;
    let late = [("late", "2026-09-30T12:00:00Z", 3_000_000), ("o1", "2026-10-09T00:00:00Z", 1_500_000)];
    usage_at(&app, "acme", "2026-10-10T00:00:00Z", &late).await;
    usage_at(&app, "acme", "2026-10-26T00:00:00Z", &[("o2", "2026-10-25T00:00:00Z", 1_000_000)]).await;
    app.clock.set(test_now());
    let report = run_billing_and_wait(&app, "2026-11-01T02:00:00Z").await;
    assert_eq!(report["invoices_issued"].as_array().map(Vec::len), Some(2), "October for acme and hooli: {report}");
    let acme = TenantId::parse("acme").unwrap();
    let principal = Principal::new(Role::Tenant, Some(acme), "spec").unwrap();
    let tenant_key = tally::auth::issue_api_key(&app.store, &principal, test_now(), &operator()).await.unwrap();
    let invoices = |tenant: &str| {
        let path = format!("/v1/tenants/{tenant}/invoices");
        let app = &app;
        async move {
            let page = app.get_json(&path).await;
            page["data"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    let (acme_invoices, hooli_invoices) = (invoices("acme").await, invoices("hooli").await);
    assert_eq!((acme_invoices.len(), hooli_invoices.len()), (2, 2), "September and October");
    let october = app.get_json(&format!("/v1/invoices/{}", acme_invoices[0])).await;
    assert!(october["lines"].as_array().unwrap().iter().any(|l| l["type"] == "adjustment"), "{october}");
    let september = app.get_json(&format!("/v1/invoices/{}", hooli_invoices[1])).await;
    assert_eq!(september["credits_applied"], "100.00", "{september}");
    let first_page = app.get_json("/v1/tenants/acme/invoices?limit=1").await;
    let acme_cursor = first_page["next_cursor"].as_str().expect("a full page has a cursor").to_owned();
    let hook = json!({"url": "http://127.0.0.1:9/hook", "events": ["invoice.voided"]});
    let created = admin_post(&app, "/v1/webhooks", &hook).await;
    assert_eq!(created.status(), 201);
    let webhook_id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    app.dispatcher.dispatch_due(test_now()).await.expect("the outbox pass succeeds");
    let sent = app.get_json("/v1/outbox?status=sent&tenant=acme").await;
    let delivery_id = sent["data"][0]["id"].as_str().expect("acme's invoice emails went out").to_owned();
    let runs = app.get_json("/v1/audit?action=billing_run.requested&limit=1").await;
    let run_id = runs["data"][0]["target"]["id"].as_str().expect("the last run is in the audit log").to_owned();
    let to_revoke = json!({"amount": "20.00", "currency": "USD", "reason": "granted twice by mistake"});
    let granted = admin_post(&app, "/v1/tenants/acme/credits", &to_revoke).await;
    assert_eq!(granted.status(), 201);
    let acme_grant_id = granted.json::<Value>().await.unwrap()["grant_id"].as_str().unwrap().to_owned();
    let fixture = Fixture {
        tenant_key,
        acme_invoices,
        acme_cursor,
        hooli_invoices,
        webhook_id,
        delivery_id,
        run_id,
        acme_grant_id,
    };
    (app, fixture)
}

async fn send(app: &TestApp, fixture: &Fixture, e: &Example) -> reqwest::Response {
    let mut request = app.client.request(e.method.clone(), format!("{}{}", app.address, e.path));
    match e.caller {
        As::Nobody => {}
        As::Admin => request = request.bearer_auth(&app.admin_key),
        As::Ingest => request = request.bearer_auth(&app.ingest_key),
        As::AcmeTenant => request = request.bearer_auth(&fixture.tenant_key),
    }
    for (name, value) in &e.headers {
        request = request.header(*name, value);
    }
    if let Some((content_type, body)) = &e.body {
        request = request.header("content-type", *content_type).body(body.clone());
    }
    request.send().await.expect("the request reaches the server")
}

/// Checks a response against the spec's response object for its status: content type,
/// required headers, and body schema. Returns what does not conform.
async fn conformance_errors(spec: &Value, documented: &Value, response: reqwest::Response) -> Vec<String> {
    let documented = follow(spec, documented);
    let mut errors = Vec::new();
    for (name, header) in documented["headers"].as_object().into_iter().flatten() {
        let header = follow(spec, header);
        match response.headers().get(name.as_str()).map(|v| v.to_str().unwrap_or_default().to_owned()) {
            None if header["required"] == true => errors.push(format!("the required header {name} is missing")),
            None => {}
            Some(value) => {
                let value = value.parse::<u64>().map(Value::from).unwrap_or(Value::String(value));
                errors
                    .extend(validate(spec, &header["schema"], &value).into_iter().map(|e| format!("header {name}{e}")));
            }
        }
    }
    let media = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let media = media.split(';').next().unwrap_or_default().trim().to_owned();
    let body = response.text().await.unwrap_or_default();
    let Some(content) = documented["content"].as_object() else {
        if !body.is_empty() {
            errors.push(format!("no body is documented, got {body:?}"));
        }
        return errors;
    };
    let Some(schema) = content.get(&media).map(|c| &c["schema"]) else {
        errors.push(format!("content type {media:?} is not documented ({:?})", content.keys()));
        return errors;
    };
    if media.ends_with("json") {
        match serde_json::from_str::<Value>(&body) {
            Ok(json) => {
                errors.extend(validate(spec, schema, &json).into_iter().map(|e| format!("body{e} in {json:.300}")))
            }
            Err(e) => errors.push(format!("the body is not JSON ({e}): {body}")),
        }
    }
    errors
}

fn follow<'a>(spec: &'a Value, object: &'a Value) -> &'a Value {
    match object["$ref"].as_str() {
        Some(reference) => resolve(spec, reference).unwrap_or_else(|| panic!("{reference} resolves")),
        None => object,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_as_the_spec_documents() {
    every_operation_answers_as_documented_on(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_as_the_spec_documents_on_postgres() {
    every_operation_answers_as_documented_on(Backend::Postgres).await;
}

async fn every_operation_answers_as_documented_on(backend: Backend) {
    // Arrange
    let spec = spec();
    let (app, fixture) = example_app(backend).await;
    let examples = examples(&fixture);
    let mut exercised = BTreeSet::new();
    let mut failures = Vec::new();
    for e in &examples {
        let method = e.method.as_str().to_ascii_lowercase();
        let operation = &spec["paths"][e.template][&method];
        assert!(operation.is_object(), "{}: {method} {} is documented", e.what, e.template);
        exercised.insert(operation["operationId"].as_str().unwrap().to_owned());
        // Act
        let response = send(&app, &fixture, e).await;
        // Assert
        let status = response.status().as_u16();
        let Some(documented) = operation["responses"].get(status.to_string()) else {
            let body = response.text().await.unwrap_or_default();
            failures.push(format!("{} ({method} {}): status {status} is not documented: {body}", e.what, e.path));
            continue;
        };
        if status != e.status {
            let body = response.text().await.unwrap_or_default();
            failures.push(format!("{} ({method} {}): expected {}, got {status}: {body}", e.what, e.path, e.status));
            continue;
        }
        for error in conformance_errors(&spec, documented, response).await {
            failures.push(format!("{} ({method} {} → {status}): {error}", e.what, e.path));
        }
    }
    let all: BTreeSet<String> = operations(&spec).into_iter().map(|o| o.id).collect();
    assert_eq!(exercised, all, "every documented operation has an example");
    assert!(failures.is_empty(), "responses that drifted from {SPEC}:\n{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_unserved_methods_answer_in_the_documented_error_shape() {
    // Arrange
    let spec = spec();
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let error_schema = json!({"$ref": "#/components/schemas/Error"});
    let mut cases = vec![(Method::GET, "/v1/nothing".to_owned(), 404, "not_found", None)];
    for (template, item) in spec["paths"].as_object().unwrap() {
        let path = template.replace("{id}", "acme");
        let served = ["get", "put", "post", "patch", "delete"].into_iter().filter(|m| item.get(*m).is_some());
        let mut allow: Vec<String> = served.map(str::to_ascii_uppercase).collect();
        // Every GET route serves HEAD too (the spec says so once, not per operation).
        if item.get("get").is_some() {
            allow.push("HEAD".to_owned());
        }
        for method in ["get", "post", "put", "patch", "delete"].into_iter().filter(|m| item.get(*m).is_none()) {
            cases.push((
                Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap(),
                path.clone(),
                405,
                "method_not_allowed",
                Some(allow.clone()),
            ));
        }
    }
    for (method, path, status, code, allow) in cases {
        // Act
        let response = app
            .client
            .request(method.clone(), format!("{}{path}", app.address))
            .bearer_auth(&app.admin_key)
            .send()
            .await
            .unwrap();
        // Assert
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        if let Some(mut allow) = allow {
            let header = response.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
            let mut listed: Vec<String> = header.unwrap_or_default().split(", ").map(str::to_owned).collect();
            listed.sort();
            allow.sort();
            assert_eq!(listed, allow, "{method} {path}: a 405 lists the methods the spec documents in Allow");
        }
        let body: Value = response.json().await.unwrap();
        assert_eq!(validate(&spec, &error_schema, &body), Vec::<String>::new(), "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], code, "{method} {path}");
    }
}

#[test]
fn the_timezone_enum_lists_exactly_the_time_zones_the_service_accepts() {
    // Arrange
    let spec = spec();
    let values = spec["components"]["schemas"]["Timezone"]["enum"].as_array().cloned().unwrap_or_default();
    // Act
    let listed: BTreeSet<&str> = values.iter().filter_map(Value::as_str).collect();
    let accepted: BTreeSet<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
    // Assert
    assert!(
        listed == accepted,
        "the Timezone schema's enum must be chrono-tz's zones; as YAML:\nTZLIST {}",
        serde_json::to_string(&accepted).unwrap()
    );
}
