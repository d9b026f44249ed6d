//! The command line (DESIGN §12). Every command reads the same settings as `serve`, so keys
//! and tokens issued here are valid for a server running with the same configuration.
//! Machine-readable results go to stdout; logs go to stderr.
//!
//! Stage: wiring, beside `startup`. Uses the same services as the server (e.g. `tally billing
//! run` goes through `invoice::Biller`); holds no business logic of its own.

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::auth::{issue_api_key, Authenticator, Principal, Role};
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::config::Settings;
use crate::domain::{Actor, TenantId};
use crate::invoice::{Biller, BillingJobs};
use crate::metrics::Metrics;
use crate::plans::SharedCatalog;
use crate::startup::Application;
use crate::store::{open_store, Store};

/// Writes one line of machine-readable output to stdout. A closed pipe (`tally … | head`) ends
/// the command quietly instead of panicking as `println!` would.
macro_rules! emit {
    ($($arg:tt)*) => {{
        use std::io::Write;
        if let Err(error) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if error.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            return Err(anyhow::Error::new(error).context("Failed to write to stdout"));
        }
    }};
}

/// Tally: usage metering and billing for serverless platforms.
#[derive(Debug, Parser)]
#[command(name = "tally", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A `tally` command; none means `serve`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage API keys for runtimes and automation.
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Issue JWTs.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Maintain usage rollups.
    #[command(subcommand)]
    Rollups(RollupsCommand),
    /// Run billing.
    #[command(subcommand)]
    Billing(BillingCommand),
    /// Raw usage retention (TALLY_RAW_RETENTION).
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Work with pricing plans.
    #[command(subcommand)]
    Plans(PlansCommand),
    /// Print a single-use portal sign-in link for a tenant (valid 15 minutes; the link is the
    /// last word of the output).
    PortalLink {
        #[arg(long)]
        tenant: String,
        /// Whom the session is for (default: the tenant's first billing email).
        #[arg(long)]
        email: Option<String>,
    },
    /// Price hypothetical usage for a whole period on a plan.
    Quote {
        #[arg(long)]
        plan: String,
        /// Quantities as meter=value pairs, e.g. invocations=3000000,memory_gb_seconds=540000
        #[arg(long, value_delimiter = ',')]
        usage: Vec<String>,
    },
    /// Create demo tenants, send them a month of usage, close it, email the invoices.
    Demo,
    /// Move the whole store to another database.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Write a consistent copy of the embedded SQLite database to FILE, while the service runs.
    Backup { file: std::path::PathBuf },
}

/// `tally store …`
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy every table into the database at --to (empty, or an interrupted copy: run again to
    /// resume). The target serves nothing until a `--verify` finds no difference.
    Copy {
        /// The target database URL (postgres://… or sqlite:…).
        #[arg(long)]
        to: String,
        /// Then compare both sides (counts, rollup sums, invoices) and release the target.
        #[arg(long)]
        verify: bool,
        /// Rows per batch (one target transaction each).
        #[arg(long, default_value_t = 2000)]
        batch_rows: usize,
    },
}

/// `tally billing …`
#[derive(Debug, Subcommand)]
pub enum BillingCommand {
    /// Close every period due by now (or by --as-of) into invoices.
    Run {
        /// Run as if the clock read this RFC 3339 instant (future only with TALLY_ALLOW_TIME_TRAVEL=1).
        #[arg(long)]
        as_of: Option<String>,
    },
}

/// `tally retention …`
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Create the raw usage partitions ahead, then remove every month of raw records that
    /// retention allows (final invoices, late window over); prints what it did as JSON.
    Run {
        /// Run as if the clock read this RFC 3339 instant (future only with TALLY_ALLOW_TIME_TRAVEL=1).
        #[arg(long)]
        as_of: Option<String>,
    },
}

/// `tally plans …`
#[derive(Debug, Subcommand)]
pub enum PlansCommand {
    /// Validate the plan files of a directory (default: the configured pricing directory).
    Check { dir: Option<std::path::PathBuf> },
}

/// `tally api-key …`
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key and print it once (only its hash is stored).
    Create {
        #[arg(long)]
        role: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List keys by id (the secret is never shown again).
    List,
    /// Revoke a key by id or by the full key.
    Revoke { key: String },
}

/// `tally token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a signed JWT.
    Issue {
        #[arg(long)]
        role: String,
        #[arg(long)]
        tenant: Option<String>,
        /// Lifetime such as 15m, 1h, 7d.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// Subject claim (who the token is for).
        #[arg(long, default_value = "cli")]
        subject: String,
    },
}

/// `tally rollups …`
#[derive(Debug, Subcommand)]
pub enum RollupsCommand {
    /// Recompute every rollup from raw records.
    Rebuild,
}

/// Runs a parsed command.
///
/// # Errors
/// Whatever the command failed on, with context.
pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    let clock: SharedClock = Arc::new(SystemClock);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings, clock).await,
        Command::Migrate => {
            open_store(&settings.database_url(), 1).await?;
            emit!("migrations applied");
            Ok(())
        }
        Command::ApiKey(command) => api_key(command, settings, clock.as_ref()).await,
        Command::Token(TokenCommand::Issue { role, tenant, ttl, subject }) => {
            let store = open_store(&settings.database_url(), 1).await?;
            let auth = Authenticator::from_settings(&settings, store)?;
            let principal = principal(&role, tenant.as_deref(), subject)?;
            let ttl = crate::config::parse_duration(&ttl).context("--ttl must look like 15m, 1h or 7d")?;
            let ttl = chrono::Duration::from_std(ttl).context("--ttl is too long")?;
            emit!("{}", auth.issue_token(&principal, ttl, clock.now())?);
            Ok(())
        }
        Command::Billing(BillingCommand::Run { as_of }) => billing_run(settings, clock, as_of.as_deref()).await,
        Command::Retention(RetentionCommand::Run { as_of }) => {
            let now = match as_of.as_deref() {
                Some(text) => chrono::DateTime::parse_from_rfc3339(text).context("--as-of must be RFC 3339")?.to_utc(),
                None => clock.now(),
            };
            if now > clock.now() && !settings.allow_time_travel {
                anyhow::bail!("--as-of is in the future; set TALLY_ALLOW_TIME_TRAVEL=1 to allow it");
            }
            let store = open_store(&settings.database_url(), 2).await?;
            let report = crate::startup::maintenance(&settings).run_once(&store, now).await;
            emit!("{}", serde_json::to_string_pretty(&report.context("Failed to apply retention")?)?);
            Ok(())
        }
        Command::Plans(PlansCommand::Check { dir }) => {
            let dir = dir.unwrap_or(settings.pricing_dir);
            let plans = crate::plans::check_plans(&dir)?;
            for plan in &plans {
                emit!("ok\t{}\t{}\t{}", plan.id(), plan.currency().code(), plan.content_hash());
            }
            emit!("{} plan(s) valid in {}", plans.len(), dir.display());
            Ok(())
        }
        Command::Quote { plan, usage } => {
            let plans = crate::plans::check_plans(&settings.pricing_dir)?;
            let plan = plans.iter().find(|p| p.id() == plan).with_context(|| format!("no plan {plan:?}"))?;
            emit!("{}", crate::quote_table::render(plan, &crate::quote_table::parse_usage(&usage)?)?);
            Ok(())
        }
        Command::Demo => demo(settings).await,
        Command::Store(StoreCommand::Copy { to, verify, batch_rows }) => {
            let outcome = crate::lifecycle::store_copy(&settings.database_url(), &to, verify, batch_rows).await?;
            for line in &outcome.lines {
                emit!("{line}");
            }
            outcome.failure.map_or(Ok(()), |failure| Err(anyhow::anyhow!(failure)))
        }
        Command::Backup { file } => {
            for line in crate::lifecycle::backup(&settings.database_url(), &file).await? {
                emit!("{line}");
            }
            Ok(())
        }
        Command::PortalLink { tenant, email } => {
            let store = open_store(&settings.database_url(), 1).await?;
            let tenant = TenantId::parse(&tenant).context("--tenant is not a valid tenant id")?;
            let port = settings.listen.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap_or(8080);
            let base = crate::startup::public_url(&settings, port);
            let link = crate::portal::create_portal_link(&store, &tenant, email.as_deref(), &base, clock.now()).await?;
            emit!("Portal sign-in link for {tenant} (single use, valid 15 minutes): {link}");
            Ok(())
        }
        Command::Rollups(RollupsCommand::Rebuild) => {
            let store = open_store(&settings.database_url(), 2).await?;
            let bar = crate::progress::bar(0, "rebuilding rollups", "records", true);
            let progress = |read, total| {
                bar.set_length(total);
                bar.set_position(read);
            };
            let report = store.rebuild_rollups_reporting(progress).await.context("Failed to rebuild rollups")?;
            bar.finish_and_clear();
            emit!("rebuilt {} rollups from {} records", report.rollups, report.records);
            Ok(())
        }
    }
}

/// `tally billing run`: a stored run like the route's (its audit event and progress too), run
/// here in the foreground by the same [`Biller`], without a tenant cache to notify (this
/// process serves no ingest).
async fn billing_run(settings: Settings, clock: SharedClock, as_of: Option<&str>) -> anyhow::Result<()> {
    let store = open_store(&settings.database_url(), 4).await?;
    store.refuse_unverified_copy().await?;
    let catalog = crate::plans::sync_plans(&store, &settings.pricing_dir, clock.now()).await?;
    let biller = Biller {
        config: crate::startup::billing_config(&settings),
        catalog: SharedCatalog::new(catalog),
        metrics: Arc::new(Metrics::default()),
        listener: None,
    };
    let as_of = match as_of {
        Some(text) => chrono::DateTime::parse_from_rfc3339(text).context("--as-of must be RFC 3339")?.to_utc(),
        None => clock.now(),
    };
    biller.config.check_as_of(as_of, clock.now())?;
    let jobs = BillingJobs::new(biller, store.clone(), clock);
    let run = jobs.submit(as_of, &command_line()).await.context("Failed to record the billing run")?;
    let report = with_progress(&store, &run.run_id, jobs.execute(&run.run_id))
        .await?
        .context("the billing run was taken by another process")?;
    emit!("{}", serde_json::to_string_pretty(&report)?);
    if report.failures.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} tenant(s) failed to bill", report.failures.len())
    }
}

/// Awaits a billing run's `work`, drawing its stored progress (tenants billed of all, saved
/// by the run's heartbeat) as a bar on a terminal; nothing when stderr is not one.
async fn with_progress<T>(store: &Store, run_id: &str, work: impl std::future::Future<Output = T>) -> T {
    let bar = crate::progress::bar(0, "billing", "tenants", true);
    tokio::pin!(work);
    let outcome = loop {
        tokio::select! {
            outcome = &mut work => break outcome,
            () = tokio::time::sleep(std::time::Duration::from_millis(500)) => {
                // A failed read only leaves the bar where it was; the run reports its own errors.
                if let Ok(Some(stored)) = store.get_billing_run(run_id).await {
                    bar.set_length(u64::try_from(stored.progress.tenants_total).unwrap_or(0));
                    bar.set_position(u64::try_from(stored.progress.tenants_done).unwrap_or(0));
                }
            }
        }
    };
    bar.finish_and_clear();
    outcome
}

/// `tally demo`: runs the demo on the configured store and says what to open next.
async fn demo(settings: Settings) -> anyhow::Result<()> {
    let options = crate::demo::DemoOptions { now: chrono::Utc::now(), bucket_minutes: 15, progress: true };
    let settings_url = settings.database_url();
    let report = crate::demo::run_demo(settings, options).await?;
    emit!("sent {} records ({} new, {} already there)", report.records_sent, report.accepted, report.duplicates);
    emit!("tenant\tplan\tlast month's invoice\ttotal\tthis month so far");
    for t in &report.tenants {
        let (number, total) = t.invoice.clone().unwrap_or(("-".into(), "-".into()));
        emit!("{}\t{}\t{number}\t{total}\t{}", t.id, t.plan, t.so_far);
    }
    emit!("{} emails (invoices, alerts) written to {}", report.emails, report.outbox_dir.display());
    emit!("start `tally serve`, then sign in to each tenant's portal (links single use, valid 15 minutes):");
    let store = open_store(&settings_url, 1).await?;
    for t in &report.tenants {
        let tenant = TenantId::parse(&t.id)?;
        let link =
            crate::portal::create_portal_link(&store, &tenant, None, &report.public_url, chrono::Utc::now()).await?;
        emit!("{}\t{link}", t.id);
    }
    Ok(())
}

async fn serve(settings: Settings, clock: SharedClock) -> anyhow::Result<()> {
    let listen = settings.listen.clone();
    let database = crate::store::StoreKind::from_url(&settings.database_url())?;
    let app = Application::build(settings, clock).await?;
    tracing::info!(%listen, port = app.port(), ?database, "tally is serving");
    app.run_until_stopped().await
}

async fn api_key(command: ApiKeyCommand, settings: Settings, clock: &dyn Clock) -> anyhow::Result<()> {
    let store = open_store(&settings.database_url(), 1).await?;
    match command {
        ApiKeyCommand::Create { role, tenant } => {
            let principal = principal(&role, tenant.as_deref(), "cli")?;
            let plaintext = issue_api_key(&store, &principal, clock.now(), &command_line()).await?;
            emit!("{plaintext}");
        }
        ApiKeyCommand::List => {
            for stored in store.list_api_keys().await.context("Failed to list API keys")? {
                let key = crate::auth::ApiKey::try_from(stored)?;
                let tenant = key.tenant().map_or("-".to_owned(), ToString::to_string);
                let state = if key.is_usable() { "active" } else { "revoked" };
                let (id, role, created) =
                    (key.key_id().display_prefix(), key.role().as_str(), key.created_at().to_rfc3339());
                emit!("{id}\t{role}\t{tenant}\t{state}\t{created}");
            }
        }
        ApiKeyCommand::Revoke { key } => {
            let key_id = crate::auth::key_id_of(&key);
            let revoked = store.revoke_api_key(&key_id, clock.now(), &command_line()).await;
            if !revoked.context("Failed to revoke the key")? {
                anyhow::bail!("no active API key with id {key_id}");
            }
            emit!("revoked tly_{key_id}");
        }
    }
    Ok(())
}

/// The operator at this command line, for the audit log (a request id per command).
fn command_line() -> Actor {
    Actor::command_line(format!("cli-{}", uuid::Uuid::new_v4().simple()))
}

fn principal(role: &str, tenant: Option<&str>, subject: impl Into<String>) -> anyhow::Result<Principal> {
    let role = role.parse::<Role>().context("--role")?;
    let tenant = tenant.map(TenantId::parse).transpose().context("--tenant is not a valid tenant id")?;
    Principal::new(role, tenant, subject).context("invalid role/tenant combination")
}
