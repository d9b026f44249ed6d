-- Foundation schema for the embedded SQLite store; the same tables and keys as PostgreSQL.
-- Decimals are normalized text (SQLite would coerce numerics to float: never do arithmetic on
-- them in SQL). Timestamps are integer microseconds since the epoch.

create table tenant (
    tenant_id text primary key,
    name text not null,
    billing_emails text not null default '[]',
    timezone text not null default 'UTC',
    tax_rate text not null default '0',
    address text not null default '[]',
    tax_id text not null default '',
    late_usage_policy text not null default 'next_invoice',
    active integer not null default 1,
    created_at integer not null,
    updated_at integer not null
);

create table usage_record (
    tenant_id text not null,
    source text not null,
    record_id text not null,
    ts integer not null,
    function text not null,
    region text not null,
    cpu_cycles integer not null,
    memory_gb_seconds text not null,
    invocations integer not null,
    event_type text not null,
    content_hash blob not null,
    ingested_at integer not null,
    primary key (tenant_id, source, record_id)
) without rowid;

create table usage_rollup (
    tenant_id text not null,
    bucket_start integer not null,
    function text not null,
    region text not null,
    cpu_cycles text not null,
    memory_gb_seconds text not null,
    invocations text not null,
    records integer not null,
    primary key (tenant_id, bucket_start, function, region)
) without rowid;

create table api_key (
    key_id text primary key,
    secret_hash blob not null,
    role text not null,
    tenant_id text not null default '',
    created_at integer not null,
    revoked_at integer
);

create table idempotency (
    scope text not null,
    idempotency_key text not null,
    request_hash blob not null,
    response_status integer,
    response_body blob,
    created_at integer not null,
    primary key (scope, idempotency_key)
);
