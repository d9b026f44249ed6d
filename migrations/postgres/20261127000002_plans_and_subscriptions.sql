-- Plan versions (global: a Citus reference table) and tenant subscriptions.
-- A changed plan file becomes a new immutable version; the database, not the file, is
-- authoritative. `definition` is the canonical TOML of the parsed plan, whose SHA-256 is
-- `content_hash`, so a version can always be re-read exactly as it priced.
create table plan_version (
    plan_id text not null,
    version integer not null,
    content_hash text not null,
    definition text not null,
    currency text not null,
    created_at timestamptz not null,
    primary key (plan_id, version)
);

-- A tenant's plan from `effective_at` until the next row. Changes at a period start are the
-- default; immediate changes split a period into segments at a 15-minute boundary.
create table subscription (
    tenant_id text not null,
    effective_at timestamptz not null,
    plan_id text not null,
    created_at timestamptz not null,
    primary key (tenant_id, effective_at)
);
