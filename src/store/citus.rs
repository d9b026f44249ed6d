//! Scale-out on Citus: where each table lives once the `citus` extension is present.
//!
//! Runs after the sqlx migrations (`open.rs`), on every `tally migrate` and `tally serve`
//! start. On a database with the extension, tenant tables are hash-distributed by `tenant_id`
//! and colocated with `tenant` (one tenant's rows of every table on one shard group), and
//! global tables become reference tables (a copy on every node). Tables already placed are
//! skipped, so restarts and later migrations keep working. On plain PostgreSQL it does nothing.
//! The rule for a later migration is in `docs/operations.md` ("Citus").

use sqlx::PgPool;

use super::DbError;

/// Where a table lives on a Citus cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Hash-distributed by `tenant_id`, colocated with `tenant`.
    ByTenant,
    /// Global: a reference table, copied to every node.
    Reference,
    /// Left on the coordinator (sqlx's migration bookkeeping).
    Coordinator,
}

/// Every table the migrations create, in the order it is placed (`tenant` first: the others
/// colocate with it). A migration that adds a table adds it here; a test fails until it does.
pub const CITUS_TABLES: &[(&str, Placement)] = &[
    ("tenant", Placement::ByTenant),
    ("usage_record", Placement::ByTenant),
    ("usage_rollup", Placement::ByTenant),
    ("usage_rollup_hour", Placement::ByTenant),
    ("usage_rollup_pending_batch", Placement::ByTenant),
    ("usage_correction", Placement::ByTenant),
    ("subscription", Placement::ByTenant),
    ("billing_period", Placement::ByTenant),
    ("invoice", Placement::ByTenant),
    ("billed_line", Placement::ByTenant),
    ("credit_entry", Placement::ByTenant),
    ("outbox", Placement::ByTenant),
    ("outbox_delivery", Placement::ByTenant),
    ("quota", Placement::ByTenant),
    ("alert", Placement::ByTenant),
    ("unbilled_usage", Placement::ByTenant),
    ("uncovered_checked", Placement::ByTenant),
    ("portal_login_token", Placement::ByTenant),
    ("portal_session", Placement::ByTenant),
    ("api_key", Placement::Reference),
    ("idempotency", Placement::Reference),
    ("plan_version", Placement::Reference),
    ("number_counter", Placement::Reference),
    ("webhook_endpoint", Placement::Reference),
    ("usage_retirement", Placement::Reference),
    ("rollup_hour_watermark", Placement::Reference),
    // Operator records written beside distributed rows (the audit event in the same
    // transaction as the change it records); read only by global admins.
    ("billing_run", Placement::Coordinator),
    ("audit_event", Placement::Coordinator),
    // `tally store copy`'s bookkeeping on its target (written beside every copied batch).
    ("store_copy", Placement::Coordinator),
    // The quota evaluator's feed of changed tenants (`changes.rs`): a few rows, written a
    // statement a second per process and taken whole by a pass.
    ("tenant_change", Placement::Coordinator),
    ("_sqlx_migrations", Placement::Coordinator),
];

/// Serialises placement across processes starting at once (a transaction lock: never a
/// session lock on a pool).
const PLACEMENT_LOCK: i64 = 0x7461_6c6c_7963_6974; // "tallycit"

/// Places every table of [`CITUS_TABLES`] not placed yet, when the database has Citus; the
/// value says whether it has.
///
/// # Errors
/// When a table cannot be distributed (e.g. its `tenant_id` is not `collate "C"` like
/// `tenant`'s) or the database fails.
pub(super) async fn place_tables(pool: &PgPool) -> Result<bool, DbError> {
    let citus: Option<i32> =
        sqlx::query_scalar("select 1 from pg_extension where extname = 'citus'").fetch_optional(pool).await?;
    if citus.is_none() {
        return Ok(false);
    }
    for (table, placement) in CITUS_TABLES {
        let call = match placement {
            Placement::ByTenant if *table == "tenant" => {
                "select create_distributed_table($1::regclass, 'tenant_id', colocate_with => 'none')"
            }
            Placement::ByTenant => {
                "select create_distributed_table($1::regclass, 'tenant_id', colocate_with => 'tenant')"
            }
            Placement::Reference => "select create_reference_table($1::regclass)",
            Placement::Coordinator => continue,
        };
        place_table(pool, table, call).await?;
    }
    Ok(true)
}

/// One table in its own transaction: skipped when `pg_dist_partition` already lists it.
async fn place_table(pool: &PgPool, table: &str, call: &str) -> Result<(), DbError> {
    let mut tx = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock($1)").bind(PLACEMENT_LOCK).execute(&mut *tx).await?;
    let placed = "select 1 from pg_dist_partition where logicalrelid = to_regclass($1)";
    let done: Option<i32> = sqlx::query_scalar(placed).bind(table).fetch_optional(&mut *tx).await?;
    if done.is_some() {
        return Ok(());
    }
    // The immutability triggers on `invoice` and `billed_line` only raise, so they are safe on
    // shards; Citus refuses tables with triggers unless told so.
    sqlx::query("set local citus.enable_unsafe_triggers = on").execute(&mut *tx).await?;
    sqlx::query(call).bind(table).execute(&mut *tx).await?;
    // Rows the table held before (a PostgreSQL database moved to Citus) were copied to the
    // shards; the coordinator's own copy is dead weight.
    let local_rows = "select truncate_local_data_after_distributing_table($1::regclass)";
    sqlx::query(local_rows).bind(table).execute(&mut *tx).await?;
    tracing::info!(table, "placed on the Citus cluster");
    tx.commit().await?;
    Ok(())
}
