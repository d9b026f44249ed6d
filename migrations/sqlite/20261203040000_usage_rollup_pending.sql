-- Always empty on SQLite: its one writer adds deltas to usage_rollup directly (no second writer
-- to take turns with, src/store/sqlite/rollups.rs). The table exists so that rollup reads,
-- written once for both engines, can add PostgreSQL's pending deltas
-- (src/store/rollup_pending.rs) with the same text.
create table usage_rollup_pending (
    tenant_id text not null,
    bucket_start integer not null,
    function text not null,
    region text not null,
    cpu_cycles text not null,
    memory_gb_seconds text not null,
    invocations text not null,
    records integer not null
);
