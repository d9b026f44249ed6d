-- Plan versions (global) and tenant subscriptions; see the PostgreSQL migration for the why.
create table plan_version (
    plan_id text not null,
    version integer not null,
    content_hash text not null,
    definition text not null,
    currency text not null,
    created_at integer not null,
    primary key (plan_id, version)
);

create table subscription (
    tenant_id text not null,
    effective_at integer not null,
    plan_id text not null,
    created_at integer not null,
    primary key (tenant_id, effective_at)
);
