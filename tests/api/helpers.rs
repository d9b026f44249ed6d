//! `spawn_app()`: the real `Application` on a random port over a fresh database — a temporary
//! SQLite file, or a PostgreSQL database cloned from a migrated template (on Citus: on every
//! node) — plus typed helpers.

#[path = "citus_db.rs"]
mod citus_db;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::OnceCell;

use tally::auth::{issue_api_key, Principal, Role};
use tally::clock::ManualClock;
use tally::config::Settings;
use tally::domain::{ContentHash, NewUsageRecord, Quantities, RecordKey, TenantId};
use tally::startup::Application;
use tally::store::{open_store, Store};

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// The Citus cluster at `TALLY_TEST_CITUS_URL`; the `citus` test target (tests/citus) runs on it.
    #[allow(dead_code)] // constructed only by the `citus` test target, which includes this file
    Citus,
}

/// The JWT secret tests sign with.
pub const JWT_SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";

/// A running service and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub clock: ManualClock,
    pub admin_key: String,
    pub ingest_key: String,
    pub database: TestDatabase,
    /// This app's outbox worker; tests drive it with `dispatch_due(now)` (its loop is off).
    pub dispatcher: tally::notify::Dispatcher,
    /// This app's portal sign-in queue: `POST /portal/login` answers before it queues the
    /// email, so tests wait for it to settle before they read the outbox.
    pub login_queue: tally::portal::LoginQueue,
    /// Stops the server gracefully, as SIGTERM would.
    pub stop: actix_web::dev::ServerHandle,
    /// Resolves when the server has stopped and the write queue is drained.
    pub stopped: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// The operator tests act as when they call the store directly (the audit log's actor).
pub fn operator() -> tally::domain::Actor {
    tally::domain::Actor::command_line("test")
}

/// "Now" in every test unless a test moves the clock.
pub fn test_now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z").unwrap().to_utc()
}

/// Builds the application on `backend` with default settings.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Builds the application on `backend` without its store upkeep (`lifecycle.maintain_every`
/// zero): no fold of pending rollup deltas or compaction runs unless the test calls it, nor
/// queues for a lock the test holds.
pub async fn spawn_app_without_upkeep(backend: Backend) -> TestApp {
    spawn_app_with(backend, |settings| settings.lifecycle.maintain_every = std::time::Duration::ZERO).await
}

/// Builds the application on `backend`, letting the test adjust settings first.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    init_test_logging();
    let database = TestDatabase::create(backend).await;
    let mut settings = Settings::from_sources("", |_| None).expect("default settings load");
    settings.listen = "127.0.0.1:0".into();
    settings.data_dir = database.data_dir.clone();
    settings.database_url = Some(database.url.clone().into());
    settings.jwt.secret = Some(JWT_SECRET.to_owned().into());
    settings.http_workers = Some(2);
    settings.billing.schedule_every = std::time::Duration::ZERO;
    settings.allow_time_travel = true;
    settings.notify.poll_every = std::time::Duration::ZERO;
    adjust(&mut settings);
    let store = open_store(&settings.database_url(), 8).await.expect("the test database opens");
    let clock = ManualClock::new(test_now());
    let app = Application::build_with_store(settings, store.clone(), Arc::new(clock.clone()))
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let stop = app.stop_handle();
    let dispatcher = app.dispatcher();
    let login_queue = app.login_queue();
    let stopped = tokio::spawn(app.run_until_stopped());
    let admin = Principal::new(Role::Admin, None, "test").unwrap();
    let ingest = Principal::new(Role::Ingest, None, "test").unwrap();
    let admin_key = issue_api_key(&store, &admin, test_now(), &operator()).await.unwrap();
    let ingest_key = issue_api_key(&store, &ingest, test_now(), &operator()).await.unwrap();
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
    TestApp { address, client, store, clock, admin_key, ingest_key, database, dispatcher, login_queue, stop, stopped }
}

impl TestApp {
    /// `POST /v1/usage` with the ingest key.
    pub async fn post_usage(&self, body: &Value) -> Response {
        self.post_usage_raw(body.to_string()).await
    }

    /// `POST /v1/usage` with a body sent as given.
    pub async fn post_usage_raw(&self, body: String) -> Response {
        self.client
            .post(format!("{}/v1/usage", self.address))
            .bearer_auth(&self.ingest_key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("the request reaches the server")
    }

    /// `POST /api/v1/events` with a content type.
    pub async fn post_events(&self, content_type: &str, body: &Value) -> Response {
        self.client
            .post(format!("{}/api/v1/events", self.address))
            .bearer_auth(&self.ingest_key)
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .expect("the request reaches the server")
    }

    /// A GET with a bearer credential.
    pub async fn get_as(&self, path: &str, credential: &str) -> Response {
        self.client.get(format!("{}{path}", self.address)).bearer_auth(credential).send().await.unwrap()
    }

    /// A GET as admin, expecting 200, returning the JSON body.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get_as(path, &self.admin_key).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    /// `GET /metrics`: the Prometheus text.
    pub async fn metrics(&self) -> String {
        self.client.get(format!("{}/metrics", self.address)).send().await.unwrap().text().await.unwrap()
    }

    /// Creates a tenant through the API.
    pub async fn create_tenant(&self, id: &str, timezone: &str) {
        let body = json!({ "id": id, "name": format!("Tenant {id}"), "timezone": timezone, "billing_email": "billing@example.com" });
        let response = self
            .client
            .post(format!("{}/v1/tenants", self.address))
            .bearer_auth(&self.admin_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "creating tenant {id}");
    }

    /// The test clock's current reading.
    pub fn clock_now(&self) -> DateTime<Utc> {
        use tally::clock::Clock;
        self.clock.now()
    }

    /// Every rollup of a tenant, rendered as comparable text.
    pub async fn rollups_of(&self, tenant: &str) -> Vec<String> {
        let rollups = self.store.all_rollups(&TenantId::parse(tenant).unwrap()).await.unwrap();
        rollups.iter().map(|r| format!("{:?}", r)).collect()
    }
}

/// A record as the writer hands it to the store (`Store::insert_usage`): `tenant`'s `id` of
/// function `f` at `timestamp`, no source or region.
pub fn stored_record(tenant: &str, id: &str, timestamp: DateTime<Utc>, quantities: Quantities) -> NewUsageRecord {
    NewUsageRecord {
        key: RecordKey { tenant_id: TenantId::parse(tenant).unwrap(), source: String::new(), record_id: id.into() },
        timestamp,
        function: "f".into(),
        region: String::new(),
        quantities,
        event_type: String::new(),
        content_hash: ContentHash::of(Some(timestamp), "f", "", &quantities),
    }
}

/// One native record for `tenant`, at `test_now()` minus a minute.
pub fn record(tenant: &str, id: &str) -> Value {
    json!({
        "id": id,
        "tenant_id": tenant,
        "timestamp": "2026-11-27T11:59:00Z",
        "function": "thumbnailer",
        "region": "eu-west-1",
        "cpu_cycles": 1_843_200_000_u64,
        "memory_gb_seconds": "0.25",
        "invocations": 1
    })
}

/// A fresh database: a temporary SQLite file, or a PostgreSQL database from the template.
pub struct TestDatabase {
    pub url: String,
    pub data_dir: PathBuf,
    pub pg_name: Option<String>,
    pub backend: Backend,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Self {
        let data_dir = std::env::temp_dir().join(format!("tally-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&data_dir).unwrap();
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}/tally.db", data_dir.display());
                Self { url, data_dir, pg_name: None, backend }
            }
            Backend::Postgres => {
                let template = pg_template().await;
                let name = format!("tally_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = pg_admin().await;
                admin.execute(format!(r#"create database "{name}" template "{template}""#).as_str()).await.unwrap();
                Self { url: format!("{}/{name}", pg_server_url()), data_dir, pg_name: Some(name), backend }
            }
            Backend::Citus => {
                let name = citus_db::create().await;
                Self { url: format!("{}/{name}", citus_db::coordinator_url()), data_dir, pg_name: Some(name), backend }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some(name) = self.pg_name.take() {
            let backend = self.backend;
            // Drop runs inside the test's runtime; use a thread with its own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                runtime.block_on(async {
                    if backend == Backend::Citus {
                        return citus_db::drop_everywhere(&name).await;
                    }
                    if let Ok(mut admin) = PgConnection::connect(&format!("{}/postgres", pg_server_url())).await {
                        let _ =
                            admin.execute(format!(r#"drop database if exists "{name}" with (force)"#).as_str()).await;
                    }
                });
            })
            .join();
        }
    }
}

/// The PostgreSQL server tests use: `TALLY_TEST_DATABASE_URL` or the local default.
pub fn pg_server_url() -> String {
    std::env::var("TALLY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
        .trim_end_matches('/')
        .to_owned()
}

/// A connection to the server's `postgres` database, or a clear instruction.
pub async fn pg_admin() -> PgConnection {
    let url = format!("{}/postgres", pg_server_url());
    PgConnection::connect(&url).await.unwrap_or_else(|error| {
        panic!(
            "PostgreSQL is required for the test suite and did not answer at {url}: {error}.\n\
             Start one (Debian: `pg_ctlcluster 15 main start`; any OS: `docker run -p 5432:5432 \
             -e POSTGRES_HOST_AUTH_METHOD=trust postgres:15`) or point TALLY_TEST_DATABASE_URL at one."
        )
    })
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// A migrated template database, made once per migration set and cloned per test (much faster
/// than migrating every test's database on 2 cores).
async fn pg_template() -> String {
    TEMPLATE
        .get_or_init(|| async {
            let name = format!("tally_template_{:016x}", migrations_hash());
            let mut admin = pg_admin().await;
            admin.execute("select pg_advisory_lock(727274)").await.unwrap();
            let exists: Option<(i32,)> = sqlx::query_as("select 1 from pg_database where datname = $1")
                .bind(&name)
                .fetch_optional(&mut admin)
                .await
                .unwrap();
            if exists.is_none() {
                admin.execute(format!(r#"create database "{name}""#).as_str()).await.unwrap();
                let store = open_store(&format!("{}/{name}", pg_server_url()), 1).await.expect("the template migrates");
                drop(store);
                // Let the pool's connection close before the template is cloned.
                let mut tries = 0;
                while tries < 50 {
                    let busy: (i64,) = sqlx::query_as("select count(*) from pg_stat_activity where datname = $1")
                        .bind(&name)
                        .fetch_one(&mut admin)
                        .await
                        .unwrap();
                    if busy.0 == 0 {
                        break;
                    }
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
            admin.execute("select pg_advisory_unlock(727274)").await.unwrap();
            name
        })
        .await
        .clone()
}

/// A hash of the PostgreSQL migrations' text: a template per migration set.
fn migrations_hash() -> u64 {
    let migrations = std::fs::read_dir("migrations/postgres").unwrap();
    let mut files: Vec<_> = migrations.map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut text = String::new();
    for file in files {
        text.push_str(&std::fs::read_to_string(file).unwrap());
    }
    fxhash(&text)
}

fn fxhash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn init_test_logging() {
    if std::env::var("TEST_LOG").is_ok() {
        tally::telemetry::init_tracing("info,sqlx=warn");
    }
}

/// Another `tally serve` on the app's database and clock (a restart, or a second process),
/// its scheduler off and `adjust` applied to its settings; returns its address and stop handle.
pub async fn instance_beside(
    app: &TestApp,
    adjust: impl FnOnce(&mut Settings),
) -> (String, actix_web::dev::ServerHandle) {
    let mut settings = Settings::from_sources("", |_| None).unwrap();
    settings.listen = "127.0.0.1:0".into();
    settings.data_dir = app.database.data_dir.clone();
    settings.database_url = Some(app.database.url.clone().into());
    settings.jwt.secret = Some(JWT_SECRET.to_owned().into());
    settings.http_workers = Some(1);
    settings.database_max_connections = 4;
    settings.billing.schedule_every = std::time::Duration::ZERO;
    adjust(&mut settings);
    let store = open_store(&app.database.url, settings.database_max_connections).await.unwrap();
    let instance = Application::build_with_store(settings, store, Arc::new(app.clock.clone())).await.unwrap();
    let address = format!("http://127.0.0.1:{}", instance.port());
    let stop = instance.stop_handle();
    tokio::spawn(instance.run_until_stopped());
    (address, stop)
}

/// Runs one SQL statement directly against the test database (bypassing the service).
pub async fn execute_sql(app: &TestApp, sql: &str) -> Result<(), sqlx::Error> {
    match app.database.pg_name {
        Some(_) => {
            let mut connection = PgConnection::connect(&app.database.url).await?;
            connection.execute(sql).await.map(|_| ())
        }
        None => {
            let mut connection = <sqlx::SqliteConnection as Connection>::connect(&app.database.url).await?;
            connection.execute(sql).await.map(|_| ())
        }
    }
}

/// Makes every insert into `table` of a row of `tenant` fail, as a constraint the data breaks
/// would (a check constraint on PostgreSQL, which Citus propagates to its shards; SQLite cannot
/// add one to a table, so a trigger there). [`accept_rows_again`] undoes it.
pub async fn refuse_rows_of(app: &TestApp, table: &str, tenant: &str) {
    let sql = match app.database.pg_name {
        Some(_) => {
            format!("alter table {table} add constraint refuse_{table} check (tenant_id <> '{tenant}') not valid")
        }
        None => format!(
            "create trigger refuse_{table} before insert on {table} when new.tenant_id = '{tenant}' \
             begin select raise(abort, 'sabotaged'); end;"
        ),
    };
    execute_sql(app, &sql).await.unwrap();
}

/// Undoes [`refuse_rows_of`].
pub async fn accept_rows_again(app: &TestApp, table: &str) {
    let sql = match app.database.pg_name {
        Some(_) => format!("alter table {table} drop constraint refuse_{table}"),
        None => format!("drop trigger refuse_{table}"),
    };
    execute_sql(app, &sql).await.unwrap();
}

/// Runs one `select count(*) ...` directly against the test database (for tables the store
/// never reads back, such as the outbox).
pub async fn count_rows(app: &TestApp, sql: &str) -> i64 {
    match app.database.pg_name {
        Some(_) => {
            let mut connection = PgConnection::connect(&app.database.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut connection).await.unwrap()
        }
        None => {
            let mut connection = <sqlx::SqliteConnection as Connection>::connect(&app.database.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut connection).await.unwrap()
        }
    }
}
