//! The command line (DESIGN §12). Every command reads the same settings as `serve`, so keys
//! and tokens issued here are valid for a server running with the same configuration.
//! Machine-readable results go to stdout; logs go to stderr.
//!
//! Stage: wiring, beside `startup`. Uses the same services as the server (e.g. `tally billing
//! run` goes through `invoice::Biller`); holds no business logic of its own.
//!
//! `args.rs` is what the command line accepts (clap); this file runs a parsed command, the
//! short ones here and the longer ones in a file per group: `access.rs` (API keys, tokens),
//! `billing.rs` (billing and retention runs), `service.rs` (serve, demo).

use std::sync::Arc;

use anyhow::Context;

use crate::clock::{SharedClock, SystemClock};
use crate::config::Settings;
use crate::domain::{Actor, TenantId};
use crate::store::open_store;

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

mod access;
mod args;
mod billing;
mod service;

pub use args::{
    ApiKeyCommand, BillingCommand, Cli, Command, PlansCommand, RetentionCommand, RollupsCommand, StoreCommand,
    TokenCommand,
};

/// Runs a parsed command.
///
/// # Errors
/// Whatever the command failed on, with context.
pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    let clock: SharedClock = Arc::new(SystemClock);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => service::serve(settings, clock).await,
        Command::Migrate => {
            open_store(&settings.database_url(), 1).await?;
            emit!("migrations applied");
            Ok(())
        }
        Command::ApiKey(command) => access::api_key(command, settings, clock.as_ref()).await,
        Command::Token(TokenCommand::Issue { role, tenant, ttl, subject }) => {
            access::issue_token(settings, clock.as_ref(), &role, tenant.as_deref(), subject, &ttl).await
        }
        Command::Billing(BillingCommand::Run { as_of }) => {
            billing::billing_run(settings, clock, as_of.as_deref()).await
        }
        Command::Retention(RetentionCommand::Run { as_of }) => {
            billing::retention_run(settings, clock.as_ref(), as_of.as_deref()).await
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
        Command::Demo => service::demo(settings).await,
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

/// The operator at this command line, for the audit log (a request id per command).
fn command_line() -> Actor {
    Actor::command_line(format!("cli-{}", uuid::Uuid::new_v4().simple()))
}
