-- Append-only corrections of raw usage records; see the PostgreSQL migration for the why.
create table usage_correction (
    tenant_id text not null,
    source text not null,
    record_id text not null,
    seq integer not null,
    action text not null,
    function text not null,
    region text not null,
    cpu_cycles integer not null,
    memory_gb_seconds text not null,
    invocations integer not null,
    reason text not null,
    created_at integer not null,
    primary key (tenant_id, source, record_id, seq)
) without rowid;
