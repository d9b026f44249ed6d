-- Append-only corrections of raw usage records. The original record is kept; each correction
-- is linked to it by key and numbered; the newest one says what the record counts as now
-- (`void`: nothing; `replace`: these dimensions and quantities at the original instant).
-- Rollups move by the difference in the same transaction.
create table usage_correction (
    tenant_id text not null,
    source text not null,
    record_id text not null,
    seq integer not null,
    action text not null,
    function text not null,
    region text not null,
    cpu_cycles bigint not null,
    memory_gb_seconds numeric not null,
    invocations bigint not null,
    reason text not null,
    created_at timestamptz not null,
    primary key (tenant_id, source, record_id, seq)
);
