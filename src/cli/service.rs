//! The long-running commands: `tally serve` and `tally demo`.

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::domain::TenantId;
use crate::startup::Application;
use crate::store::open_store;

/// `tally serve`: the HTTP service and its background workers, until it is stopped.
pub(super) async fn serve(settings: Settings, clock: SharedClock) -> anyhow::Result<()> {
    let listen = settings.listen.clone();
    let database = crate::store::StoreKind::from_url(&settings.database_url())?;
    let app = Application::build(settings, clock).await?;
    tracing::info!(%listen, port = app.port(), ?database, "tally is serving");
    app.run_until_stopped().await
}

/// `tally demo`: runs the demo on the configured store and says what to open next.
pub(super) async fn demo(settings: Settings) -> anyhow::Result<()> {
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
