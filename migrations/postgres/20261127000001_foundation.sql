-- Foundation schema: tenants, raw usage, rollups, API keys, idempotency.
-- Tenant-owned tables carry tenant_id as the first column of every primary/unique key so the
-- schema can be distributed by tenant (Citus) later. api_key is global (a reference table).

create table tenant (
    tenant_id text primary key,
    name text not null,
    billing_emails jsonb not null default '[]',
    timezone text not null default 'UTC',
    tax_rate numeric not null default 0,
    address jsonb not null default '[]',
    tax_id text not null default '',
    late_usage_policy text not null default 'next_invoice',
    active boolean not null default true,
    created_at timestamptz not null,
    updated_at timestamptz not null
);

-- Raw records, kept for audit, rebuilds and explanations. The primary key is the
-- exactly-once guarantee. Integer meters are bigint (their domain is exactly 0..2^63-1);
-- memory is numeric. content_hash = 16 bytes of SHA-256 over the normalized content, used to
-- tell a retried duplicate from a conflicting one. Absent dimensions are '' (never NULL).
create table usage_record (
    tenant_id text not null,
    source text not null,
    record_id text not null,
    ts timestamptz not null,
    function text not null,
    region text not null,
    cpu_cycles bigint not null,
    memory_gb_seconds numeric not null,
    invocations bigint not null,
    event_type text not null,
    content_hash bytea not null,
    ingested_at timestamptz not null default now(),
    primary key (tenant_id, source, record_id)
);

-- 15-minute UTC rollups; every read (usage API, portal, quotas, invoices) reads these.
create table usage_rollup (
    tenant_id text not null,
    bucket_start timestamptz not null,
    function text not null,
    region text not null,
    cpu_cycles numeric not null,
    memory_gb_seconds numeric not null,
    invocations numeric not null,
    records bigint not null,
    primary key (tenant_id, bucket_start, function, region)
);

create table api_key (
    key_id text primary key,
    secret_hash bytea not null,
    role text not null,
    tenant_id text not null default '',
    created_at timestamptz not null,
    revoked_at timestamptz
);

-- Idempotency-Key replays for mutating admin requests, per caller scope.
create table idempotency (
    scope text not null,
    idempotency_key text not null,
    request_hash bytea not null,
    response_status integer,
    response_body bytea,
    created_at timestamptz not null,
    primary key (scope, idempotency_key)
);
