//! What `tally store copy` copies: every table the migrations create, by its logical columns
//! and key — never by physical layout, so a table that becomes partitioned (or gains an index)
//! copies the same way. A migration that adds a table or a column adds it here; a test
//! (`tests/api/store_copy.rs`) compares this list with the migrated schema of both engines
//! and fails until it does.

use super::value::Kind::{self, Bool, Bytes, Dec, Int, Json, Text, Time};

/// One copied table: its columns in insert order, and the columns of a unique key, in the
/// order the copy pages through it.
#[derive(Debug)]
pub struct CopiedTable {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    pub key: &'static [&'static str],
    /// A column the database fills from a sequence, which the copy writes explicitly and then
    /// moves the sequence past (`audit_event.event_id`).
    pub identity: Option<&'static str>,
    /// The time column whose UTC month picks the partition a row goes to on PostgreSQL
    /// (`usage_record.ts`): the copy makes the months of each batch before writing it.
    pub partitioned_by: Option<&'static str>,
}

/// Tables a copy does not copy: its own bookkeeping, sqlx's migration history (the target
/// was migrated by the same binary), and the hour rollups with their watermark (PostgreSQL
/// only): the copy derives the hours before the target's own watermark from the 15-minute
/// rollups it copied; and the pending rollup deltas (SQLite's always-empty table, PostgreSQL's
/// rows of arrays), which the copy folds into the source's rollup rows before it starts
/// (`copy_store`).
pub const NOT_COPIED: &[&str] = &[
    "store_copy",
    "_sqlx_migrations",
    "usage_rollup_hour",
    "rollup_hour_watermark",
    "usage_rollup_pending",
    "usage_rollup_pending_batch",
    // Hints for the quota evaluator; the copy's first `tally serve` sweeps every tenant.
    "tenant_change",
];

const fn table(
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    key: &'static [&'static str],
) -> CopiedTable {
    CopiedTable { name, columns, key, identity: None, partitioned_by: None }
}

/// Every copied table, tenants first (the order a reader of the progress bar expects).
#[rustfmt::skip]
pub const COPIED_TABLES: &[CopiedTable] = &[
    table(
        "tenant",
        &[
            ("tenant_id", Text), ("name", Text), ("billing_emails", Json), ("timezone", Text), ("tax_rate", Dec),
            ("address", Json), ("tax_id", Text), ("late_usage_policy", Text), ("active", Bool),
            ("created_at", Time), ("updated_at", Time), ("payment_terms", Text), ("timezone_history", Json),
        ],
        &["tenant_id"],
    ),
    // Keyed with `ts` too: an id may be reused beyond the dedupe window (DESIGN §2), so on a
    // time-partitioned table only (tenant, source, id, ts) is certain to be unique.
    table(
        "usage_record",
        &[
            ("tenant_id", Text), ("source", Text), ("record_id", Text), ("ts", Time), ("function", Text),
            ("region", Text), ("cpu_cycles", Int), ("memory_gb_seconds", Dec), ("invocations", Int),
            ("event_type", Text), ("content_hash", Bytes), ("ingested_at", Time),
        ],
        &["tenant_id", "source", "record_id", "ts"],
    )
    .partitioned_by_month_of("ts"),
    table(
        "usage_rollup",
        &[
            ("tenant_id", Text), ("bucket_start", Time), ("function", Text), ("region", Text), ("cpu_cycles", Dec),
            ("memory_gb_seconds", Dec), ("invocations", Dec), ("records", Int),
        ],
        &["tenant_id", "bucket_start", "function", "region"],
    ),
    table(
        "usage_correction",
        &[
            ("tenant_id", Text), ("source", Text), ("record_id", Text), ("seq", Int), ("action", Text),
            ("function", Text), ("region", Text), ("cpu_cycles", Int), ("memory_gb_seconds", Dec),
            ("invocations", Int), ("reason", Text), ("created_at", Time),
        ],
        &["tenant_id", "source", "record_id", "seq"],
    ),
    table(
        "plan_version",
        &[
            ("plan_id", Text), ("version", Int), ("content_hash", Text), ("definition", Text), ("currency", Text),
            ("created_at", Time),
        ],
        &["plan_id", "version"],
    ),
    table(
        "subscription",
        &[("tenant_id", Text), ("effective_at", Time), ("plan_id", Text), ("created_at", Time), ("usage_from", Time)],
        &["tenant_id", "effective_at"],
    ),
    table(
        "billing_period",
        &[
            ("tenant_id", Text), ("period_start", Time), ("period_end", Time), ("state", Text), ("closed_at", Time),
            ("invoice_id", Text),
        ],
        &["tenant_id", "period_start"],
    ),
    table(
        "invoice",
        &[
            ("tenant_id", Text), ("invoice_id", Text), ("kind", Text), ("number", Text), ("status", Text),
            ("period_start", Time), ("period_end", Time), ("currency", Text), ("subtotal", Dec), ("tax", Dec),
            ("credits_applied", Dec), ("total", Dec), ("document", Text), ("issued_at", Time), ("paid_at", Time),
            ("voided_at", Time), ("credit_note_number", Text), ("created_at", Time), ("due_at", Time),
            ("reminded_at", Time),
        ],
        &["tenant_id", "invoice_id"],
    ),
    table(
        "billed_line",
        &[("tenant_id", Text), ("period_start", Time), ("line_key", Text), ("invoice_id", Text), ("amount", Dec)],
        &["tenant_id", "period_start", "line_key", "invoice_id"],
    ),
    // The gapless counters: copied as they stand, so numbering continues on the target.
    table("number_counter", &[("prefix", Text), ("year", Int), ("next_value", Int)], &["prefix", "year"]),
    table(
        "credit_entry",
        &[
            ("tenant_id", Text), ("entry_id", Text), ("kind", Text), ("grant_id", Text), ("amount", Dec),
            ("currency", Text), ("expires_at", Time), ("reason", Text), ("invoice_id", Text), ("created_at", Time),
        ],
        &["tenant_id", "entry_id"],
    ),
    table(
        "unbilled_usage",
        &[
            ("tenant_id", Text), ("period_start", Time), ("period_end", Time), ("reason", Text), ("cpu_cycles", Dec),
            ("memory_gb_seconds", Dec), ("invocations", Dec), ("records", Int), ("created_at", Time),
        ],
        &["tenant_id", "period_start"],
    ),
    table("uncovered_checked", &[("tenant_id", Text), ("checked_until", Time)], &["tenant_id"]),
    table(
        "outbox",
        &[
            ("tenant_id", Text), ("message_id", Text), ("kind", Text), ("payload", Text), ("state", Text),
            ("attempts", Int), ("next_attempt_at", Time), ("created_at", Time),
        ],
        &["tenant_id", "message_id"],
    ),
    table(
        "outbox_delivery",
        &[
            ("tenant_id", Text), ("delivery_id", Text), ("message_id", Text), ("kind", Text), ("channel", Text),
            ("recipient", Text), ("state", Text), ("attempts", Int), ("next_attempt_at", Time),
            ("last_error", Text), ("sent_at", Time), ("created_at", Time), ("updated_at", Time),
        ],
        &["tenant_id", "delivery_id"],
    ),
    table(
        "webhook_endpoint",
        &[("endpoint_id", Text), ("url", Text), ("events", Text), ("secret", Text), ("created_at", Time)],
        &["endpoint_id"],
    ),
    table(
        "quota",
        &[
            ("tenant_id", Text), ("quota_id", Text), ("owner", Text), ("meter", Text), ("limit_value", Dec),
            ("thresholds", Json), ("hard", Bool), ("created_at", Time),
        ],
        &["tenant_id", "quota_id"],
    ),
    table(
        "alert",
        &[
            ("tenant_id", Text), ("quota_id", Text), ("threshold", Int), ("period_start", Time),
            ("period_end", Time), ("meter", Text), ("used", Dec), ("limit_value", Dec), ("late", Bool),
            ("created_at", Time),
        ],
        &["tenant_id", "quota_id", "threshold", "period_start"],
    ),
    // Sign-in links and sessions: hashes only; copied so signed-in tenants stay signed in.
    table(
        "portal_login_token",
        &[
            ("tenant_id", Text), ("token_hash", Text), ("email", Text), ("expires_at", Time), ("used_at", Time),
            ("created_at", Time),
        ],
        &["tenant_id", "token_hash"],
    ),
    table(
        "portal_session",
        &[
            ("tenant_id", Text), ("session_hash", Text), ("email", Text), ("expires_at", Time),
            ("revoked_at", Time), ("created_at", Time),
        ],
        &["tenant_id", "session_hash"],
    ),
    // Keys are hashes of their secrets: every key issued on the source works on the target.
    table(
        "api_key",
        &[
            ("key_id", Text), ("secret_hash", Bytes), ("role", Text), ("tenant_id", Text), ("created_at", Time),
            ("revoked_at", Time),
        ],
        &["key_id"],
    ),
    // Stored responses: a client retrying across the move gets its first answer replayed.
    table(
        "idempotency",
        &[
            ("scope", Text), ("idempotency_key", Text), ("request_hash", Bytes), ("response_status", Int),
            ("response_body", Bytes), ("created_at", Time), ("response_location", Text),
        ],
        &["scope", "idempotency_key"],
    ),
    // Months whose raw records retention retired: the target must not expect them.
    table("usage_retirement", &[("month_start", Time), ("month_end", Time), ("retired_at", Time)], &["month_start"]),
    table(
        "billing_run",
        &[
            ("run_id", Text), ("as_of", Time), ("requested_by", Text), ("status", Text), ("tenants_done", Int),
            ("tenants_total", Int), ("report", Json), ("error", Text), ("created_at", Time), ("started_at", Time),
            ("finished_at", Time), ("heartbeat_at", Time), ("updated_at", Time),
        ],
        &["run_id"],
    ),
    CopiedTable {
        name: "audit_event",
        columns: &[
            ("event_id", Int), ("at", Time), ("actor_role", Text), ("actor_subject", Text),
            ("actor_tenant_id", Text), ("request_id", Text), ("action", Text), ("target_kind", Text),
            ("target_id", Text), ("tenant_id", Text), ("detail", Json),
        ],
        key: &["event_id"],
        identity: Some("event_id"),
        partitioned_by: None,
    },
];

impl CopiedTable {
    /// This table, partitioned by the month of `column` on PostgreSQL.
    const fn partitioned_by_month_of(self, column: &'static str) -> Self {
        CopiedTable { partitioned_by: Some(column), ..self }
    }

    /// The position of each key column among the columns.
    pub(super) fn key_positions(&self) -> Vec<usize> {
        self.key.iter().map(|k| self.position(k)).collect()
    }

    /// The position of a column (the list is static: a missing one is a bug in it).
    pub(super) fn position(&self, column: &str) -> usize {
        self.columns
            .iter()
            .position(|(c, _)| *c == column)
            .unwrap_or_else(|| panic!("{}.{column} is listed", self.name))
    }
}

/// The copied table of this name.
#[cfg(test)]
pub(super) fn copied_table(name: &str) -> Option<&'static CopiedTable> {
    COPIED_TABLES.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_column_is_a_column_and_no_table_is_listed_twice() {
        for table in COPIED_TABLES {
            assert_eq!(table.key_positions().len(), table.key.len());
            if let Some(column) = table.partitioned_by {
                assert_eq!(table.columns[table.position(column)].1, Time, "{} is partitioned by a time", table.name);
            }
            assert_eq!(COPIED_TABLES.iter().filter(|t| t.name == table.name).count(), 1, "{}", table.name);
        }
    }
}
