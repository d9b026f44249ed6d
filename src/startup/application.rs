//! [`Application`]: `build` wires the store, the writer, the workers and the route table;
//! `port()` reports the bound port (0 in tests); `run_until_stopped()` serves, then stops the
//! workers and drains the write queue.
//!
//! Builds every shared handle once — the store, the plan catalog (`plans::SharedCatalog`), the
//! `invoice::Biller`, the authenticator — and hands them to actix as `web::Data`.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use anyhow::Context;

use super::from_settings::{billing_config, body_limits, maintenance};
use super::routes::{portal_routes, routes, unknown_route};
use super::workers::{
    build_dispatcher, spawn_billing_scheduler, spawn_maintenance, spawn_notify_worker, spawn_quota_evaluator,
    spawn_rollup_keeper, start_writer,
};
use crate::auth::Authenticator;
use crate::clock::SharedClock;
use crate::config::Settings;
use crate::http;
use crate::ingest::{Ingestor, TenantDirectory, WriterTasks};
use crate::invoice::{Biller, BillingJobs};
use crate::lifecycle::checkpoint_wal_every;
use crate::metrics::Metrics;
use crate::notify::Dispatcher;
use crate::plans::{sync_plans, SharedCatalog};
use crate::portal::{LoginQueue, Portal};
use crate::quota::{report_changes, report_changes_every, EntitlementCache, REPORT_CHANGES_EVERY};
use crate::store::{open_store, Store, CHECKPOINT_EVERY};

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
