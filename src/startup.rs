//! `Application::build` wires the store, the writer and the one route table; `port()` reports
//! the bound port (0 in tests); `run_until_stopped()` serves, then drains the write queue.
//!
//! Stage: wiring (top of the graph). Builds every shared handle once — the store, the plan
//! catalog (`plans::SharedCatalog`), the `invoice::Biller`, the authenticator — and hands them
//! to actix as `web::Data`. Holds no business logic; nothing imports `startup` but `cli`.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use tokio::sync::Semaphore;

use crate::api;
use crate::auth::Authenticator;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::domain::{IssuerSnapshot, PaymentTerms};
use crate::health;
use crate::http;
use crate::ingest::{self, BodyLimits, Ingestor, TenantDirectory, UsageWriter, WriterConfig, WriterTasks};
use crate::invoice::{Biller, BillingConfig, BillingJobs};
use crate::lifecycle::{checkpoint_wal_every, keep_rollups_every, Maintenance, RawRetention};
use crate::metrics::Metrics;
use crate::notify::{Dispatcher, MailTransport, NotifyConfig};
use crate::plans::{sync_plans, SharedCatalog};
use crate::portal::{self, LoginQueue, Portal};
use crate::quota::{report_changes, report_changes_every, EntitlementCache, QuotaEvaluator, REPORT_CHANGES_EVERY};
use crate::store::{open_store, Store, StoreKind, CHECKPOINT_EVERY};

/// A built, bound, not yet running service.
pub struct Application {
    port: u16,
    server: Server,
    writer_tasks: WriterTasks,
    scheduler: Option<tokio::task::JoinHandle<()>>,
    dispatcher: Dispatcher,
    notifier: Option<tokio::task::JoinHandle<()>>,
    quota_evaluator: Option<tokio::task::JoinHandle<()>>,
    maintenance: Option<tokio::task::JoinHandle<()>>,
    rollup_keeper: Option<tokio::task::JoinHandle<()>>,
    run_reaper: tokio::task::JoinHandle<()>,
    /// SQLite's log checkpoints (`store/wal.rs`); ends at once on PostgreSQL.
    checkpointer: tokio::task::JoinHandle<()>,
    /// Writes the tenants this process changed for every quota evaluator, each second.
    change_reporter: tokio::task::JoinHandle<()>,
    /// The store whose changed tenants the last report writes, after the drain.
    changes_of: Store,
    /// Portal sign-in requests answered and not yet looked up, and the task that does it.
    login_queue: LoginQueue,
    login_worker: tokio::task::JoinHandle<()>,
}

impl Application {
    /// Opens the configured store (migrating it) and builds the service.
    ///
    /// # Errors
    /// When the store cannot be opened, keys cannot be loaded, or the port cannot be bound.
    pub async fn build(settings: Settings, clock: SharedClock) -> anyhow::Result<Self> {
        let store = open_store(&settings.database_url(), settings.database_max_connections).await?;
        Self::build_with_store(settings, store, clock).await
    }

    /// Builds the service over an already opened store.
    ///
    /// # Errors
    /// When the store is an unverified copy, a plan is invalid, keys cannot be loaded or the
    /// port cannot be bound.
    pub async fn build_with_store(settings: Settings, store: Store, clock: SharedClock) -> anyhow::Result<Self> {
        store.refuse_unverified_copy().await?;
        let listener =
            TcpListener::bind(&settings.listen).with_context(|| format!("Failed to bind {}", settings.listen))?;
        let port = listener.local_addr().context("Failed to read the bound address")?.port();
        store.set_allowed_lateness(settings.ingest.allowed_lateness);
        maintenance(&settings)
            .ensure_partitions(&store, clock.now())
            .await
            .context("Failed to create the raw usage partitions")?;
        let catalog = SharedCatalog::new(sync_plans(&store, &settings.pricing_dir, clock.now()).await?);
        let metrics = Arc::new(Metrics::default());
        let (writer, writer_tasks) = start_writer(&settings, &store, &clock, &metrics);
        let authenticator = web::Data::new(Authenticator::from_settings(&settings, store.clone())?);
        let directory = web::Data::new(TenantDirectory::following_changes(store.clone()).await);
        let ingestor = web::Data::new(Ingestor {
            writer,
            tenants: directory.clone().into_inner(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            allowed_lateness: settings.ingest.allowed_lateness,
        });
        let limits = web::Data::new(body_limits(&settings));
        let biller = Biller {
            config: billing_config(&settings),
            catalog: catalog.clone(),
            metrics: metrics.clone(),
            listener: Some(directory.clone().into_inner()),
        };
        let scheduler = spawn_billing_scheduler(&settings, store.clone(), clock.clone(), biller.clone());
        let jobs = BillingJobs::new(biller.clone(), store.clone(), clock.clone());
        jobs.reap_abandoned().await;
        let run_reaper = tokio::spawn(jobs.clone().reap_abandoned_every());
        let dispatcher = build_dispatcher(&settings, &store, &metrics, port)?;
        let notifier = spawn_notify_worker(&settings, dispatcher.clone(), clock.clone());
        let quota_evaluator = spawn_quota_evaluator(&settings, &store, &catalog, &metrics, &clock);
        let maintenance = spawn_maintenance(&settings, &store, &clock);
        let rollup_keeper = spawn_rollup_keeper(&settings, &store, &metrics, &clock);
        let checkpointer = tokio::spawn(checkpoint_wal_every(CHECKPOINT_EVERY, store.clone()));
        let change_reporter = tokio::spawn(report_changes_every(REPORT_CHANGES_EVERY, store.clone()));
        let changes_of = store.clone();
        let entitlements =
            web::Data::new(EntitlementCache::new(store.clone(), catalog.clone(), settings.quota.entitlement_max_age));
        let biller = web::Data::new(biller);
        let jobs = web::Data::new(jobs);
        let entitlement_cache = entitlements.clone().into_inner();
        let public = settings.public_url.as_deref();
        let (login_queue, login_worker) = LoginQueue::start(store.clone());
        let queue = login_queue.clone();
        let portal = web::Data::new(Portal::new(
            store.clone(),
            clock.clone(),
            catalog.clone(),
            entitlement_cache,
            queue,
            public,
        ));
        let store = web::Data::new(store);
        let catalog = web::Data::new(catalog);
        let clock = web::Data::new(clock);
        let metrics = web::Data::new(metrics);
        let workers = settings.http_worker_count();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(http::assign_request_id))
                // Outermost: it reads the id back from the answered request.
                .wrap(actix_web::middleware::from_fn(http::log_access))
                .app_data(http::query_config())
                .app_data(http::path_config())
                .app_data(store.clone())
                .app_data(clock.clone())
                .app_data(metrics.clone())
                .app_data(authenticator.clone())
                .app_data(ingestor.clone())
                .app_data(limits.clone())
                .app_data(directory.clone())
                .app_data(biller.clone())
                .app_data(jobs.clone())
                .app_data(catalog.clone())
                .app_data(entitlements.clone())
                .app_data(portal.clone())
                .configure(routes)
                .configure(portal_routes)
                .default_service(web::to(unknown_route))
        })
        .workers(workers)
        .listen(listener)
        .context("Failed to listen")?
        .shutdown_timeout(30)
        .run();
        Ok(Self {
            port,
            server,
            writer_tasks,
            scheduler,
            dispatcher,
            notifier,
            quota_evaluator,
            maintenance,
            rollup_keeper,
            checkpointer,
            change_reporter,
            changes_of,
            run_reaper,
            login_queue,
            login_worker,
        })
    }

    /// The port the service listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The outbox delivery worker of this process (tests drive it with `dispatch_due`).
    pub fn dispatcher(&self) -> Dispatcher {
        self.dispatcher.clone()
    }

    /// The portal's sign-in queue (tests wait for it to settle before reading the outbox).
    pub fn login_queue(&self) -> LoginQueue {
        self.login_queue.clone()
    }

    /// A handle to stop the server (gracefully: in-flight requests finish, the write queue
    /// drains) from elsewhere, as a signal would.
    pub fn stop_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the server stops (signal or handle), then commits what is queued.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self.server.await;
        // Sign-in requests already answered "on its way": queue their emails, briefly.
        let _ = tokio::time::timeout(LOGIN_QUEUE_DRAIN, self.login_queue.settled()).await;
        self.login_worker.abort();
        for worker in [self.scheduler, self.quota_evaluator, self.maintenance, self.rollup_keeper].into_iter().flatten()
        {
            worker.abort();
        }
        self.run_reaper.abort();
        // What the drain below commits, SQLite checkpoints when its last connection closes.
        self.checkpointer.abort();
        if let Some(notifier) = self.notifier {
            notifier.abort();
        }
        self.writer_tasks.drain_and_stop().await;
        // The drain's tenants too: another node's evaluator reads them.
        self.change_reporter.abort();
        report_changes(&self.changes_of).await;
        served.context("The HTTP server failed")
    }
}

/// How long shutdown waits for answered sign-in requests to reach the outbox.
const LOGIN_QUEUE_DRAIN: std::time::Duration = std::time::Duration::from_secs(5);

/// The one route table; api-spec/openapi.yaml lists exactly these (a test checks).
fn routes(cfg: &mut web::ServiceConfig) {
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
/// A path no route serves: under `/portal` a portal page (a person typed it, or followed an
/// old link), elsewhere the API's JSON error.
async fn unknown_route(request: actix_web::HttpRequest) -> actix_web::HttpResponse {
    use actix_web::ResponseError;
    let path = request.path();
    match path == "/portal" || path.starts_with("/portal/") {
        true => portal::PortalError::NotFound("page").error_response(),
        false => http::ApiError::NotFound("route").error_response(),
    }
}

fn portal_routes(cfg: &mut web::ServiceConfig) {
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

/// The base of links in emails and of `tally portal-link`: `TALLY_PUBLIC_URL`, else the
/// listen address with the bound `port`.
pub fn public_url(settings: &Settings, port: u16) -> String {
    settings.public_url.clone().unwrap_or_else(|| match settings.listen.rsplit_once(':') {
        Some((host, _)) => format!("http://{host}:{port}"),
        None => format!("http://{}", settings.listen),
    })
}

/// The batching writer: one task on SQLite (one writer connection), `ingest.writers` on
/// PostgreSQL.
fn start_writer(
    settings: &Settings,
    store: &Store,
    clock: &SharedClock,
    metrics: &Arc<Metrics>,
) -> (UsageWriter, WriterTasks) {
    let writers = if store.kind() == StoreKind::Sqlite { 1 } else { settings.ingest.writers };
    let config = WriterConfig {
        queue_capacity: settings.ingest.queue_capacity,
        max_group_records: settings.ingest.max_group_records,
        writers,
    };
    UsageWriter::start(store.clone(), clock.clone(), metrics.clone(), config)
}

fn body_limits(settings: &Settings) -> BodyLimits {
    BodyLimits {
        max_body_bytes: settings.ingest.max_body_bytes,
        max_records: settings.ingest.max_records_per_request,
        inflight: Arc::new(Semaphore::new(settings.ingest.max_inflight_bytes.div_ceil(1024))),
    }
}

/// Outbox deliveries in flight at most in the delivery worker (claimed, read, rendered and
/// sent; the sends themselves share `smtp.max_connections`). Each is a task of its own, and a
/// claim tops the window up whenever half of it is done, so the worker never waits on its
/// slowest send (BENCHMARKS.md, "The outbox worker's SMTP connections").
pub const OUTBOX_CLAIM_BATCH: u32 = 64;

/// Billing settings from the configuration.
pub fn billing_config(settings: &Settings) -> BillingConfig {
    let issuer = &settings.issuer;
    let duration = |d: std::time::Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    BillingConfig {
        issuer: IssuerSnapshot {
            name: issuer.name.clone(),
            address: issuer.address.clone(),
            tax_id: issuer.tax_id.clone(),
        },
        invoice_prefix: issuer.invoice_prefix.clone(),
        credit_note_prefix: issuer.credit_note_prefix.clone(),
        grace: duration(settings.billing.grace),
        allowed_lateness: duration(settings.ingest.allowed_lateness),
        allow_time_travel: settings.allow_time_travel,
        // `Settings::load` refused terms above 366 days.
        payment_terms: PaymentTerms::from_std(settings.billing.payment_terms).unwrap_or(PaymentTerms::DEFAULT),
    }
}

/// Runs billing every `billing.schedule_every` (off when zero), see [`Biller::run_every`].
fn spawn_billing_scheduler(
    settings: &Settings,
    store: Store,
    clock: SharedClock,
    biller: Biller,
) -> Option<tokio::task::JoinHandle<()>> {
    let every = settings.billing.schedule_every;
    if every.is_zero() {
        return None;
    }
    Some(tokio::spawn(async move { biller.run_every(every, store, clock).await }))
}

/// The maintenance settings: raw usage retention within the late window.
pub fn maintenance(settings: &Settings) -> Maintenance {
    let keep = settings.lifecycle.raw_retention.map(|d| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX));
    let allowed_lateness =
        chrono::Duration::from_std(settings.ingest.allowed_lateness).unwrap_or(chrono::Duration::MAX);
    Maintenance { retention: RawRetention { keep, allowed_lateness } }
}

/// Runs maintenance every `lifecycle.maintain_every` (off when zero), see [`Maintenance::run_every`].
fn spawn_maintenance(settings: &Settings, store: &Store, clock: &SharedClock) -> Option<tokio::task::JoinHandle<()>> {
    let every = settings.lifecycle.maintain_every;
    (!every.is_zero()).then(|| tokio::spawn(maintenance(settings).run_every(every, store.clone(), clock.clone())))
}

/// How often the hour rollups' compactor runs at most: the hour watermark then trails the
/// last settled hour by about a minute.
const HOUR_COMPACTION_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// How often pending rollup deltas are folded at most: reads then add about a second's.
const PENDING_FOLD_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs the rollup levels' upkeep (see [`keep_rollups_every`]): the fold every second and the
/// hour compactor every minute, each every `lifecycle.maintain_every` if shorter; off when
/// maintenance is (zero), as it is store upkeep (reads stay exact without it).
fn spawn_rollup_keeper(
    settings: &Settings,
    store: &Store,
    metrics: &Arc<Metrics>,
    clock: &SharedClock,
) -> Option<tokio::task::JoinHandle<()>> {
    let every = settings.lifecycle.maintain_every;
    (!every.is_zero()).then(|| {
        let (fold, compact) = (every.min(PENDING_FOLD_EVERY), every.min(HOUR_COMPACTION_EVERY));
        tokio::spawn(keep_rollups_every(fold, compact, store.clone(), clock.clone(), metrics.clone()))
    })
}

/// The outbox worker: SMTP at `smtp.url`, else `.eml` files under `<data dir>/outbox/`.
fn build_dispatcher(
    settings: &Settings,
    store: &Store,
    metrics: &Arc<Metrics>,
    port: u16,
) -> anyhow::Result<Dispatcher> {
    use secrecy::ExposeSecret;
    let url = settings.smtp.url.as_ref().map(|u| u.expose_secret().to_owned());
    let mail =
        MailTransport::from_settings(url.as_deref(), settings.data_dir.join("outbox"), settings.smtp.max_connections)?;
    let from = settings.smtp.mail_from.parse().with_context(|| {
        format!("smtp.mail_from (TALLY_MAIL_FROM) {:?} is not an email address", settings.smtp.mail_from)
    })?;
    let public_url = public_url(settings, port);
    let config = NotifyConfig {
        from,
        public_url,
        lease: chrono::Duration::from_std(settings.notify.lease).unwrap_or(chrono::Duration::minutes(5)),
        batch: OUTBOX_CLAIM_BATCH,
        issuer: billing_config(settings).issuer,
    };
    Dispatcher::new(store.clone(), mail, config, metrics.clone())
}

/// Runs outbox passes every `notify.poll_every` (off when zero), see [`Dispatcher::run_every`].
fn spawn_notify_worker(
    settings: &Settings,
    dispatcher: Dispatcher,
    clock: SharedClock,
) -> Option<tokio::task::JoinHandle<()>> {
    let every = settings.notify.poll_every;
    (!every.is_zero()).then(|| tokio::spawn(dispatcher.run_every(every, clock)))
}

/// Evaluates quotas every `quota.evaluate_every` (off when zero), see [`QuotaEvaluator::run_every`].
fn spawn_quota_evaluator(
    settings: &Settings,
    store: &Store,
    catalog: &SharedCatalog,
    metrics: &Arc<Metrics>,
    clock: &SharedClock,
) -> Option<tokio::task::JoinHandle<()>> {
    let (every, sweep_every) = (settings.quota.evaluate_every, settings.quota.sweep_every);
    if every.is_zero() {
        return None;
    }
    let evaluator = quota_evaluator(settings, store, catalog, metrics);
    let clock = clock.clone();
    Some(tokio::spawn(async move { evaluator.run_every(every, sweep_every, clock).await }))
}

/// The quota evaluator over `store` with this configuration (also for tests and the CLI).
pub fn quota_evaluator(
    settings: &Settings,
    store: &Store,
    catalog: &SharedCatalog,
    metrics: &Arc<Metrics>,
) -> QuotaEvaluator {
    QuotaEvaluator::new(
        store.clone(),
        catalog.clone(),
        metrics.clone(),
        chrono::Duration::from_std(settings.ingest.allowed_lateness).unwrap_or(chrono::Duration::MAX),
    )
}
