-- Quotas, budgets and their alerts; see the PostgreSQL migration for the why of each.
create table quota (
    tenant_id text not null,
    quota_id text not null,
    owner text not null,
    meter text not null,
    limit_value text not null,
    thresholds text not null,
    hard integer not null,
    created_at integer not null,
    primary key (tenant_id, quota_id)
);

create table alert (
    tenant_id text not null,
    quota_id text not null,
    threshold integer not null,
    period_start integer not null,
    period_end integer not null,
    meter text not null,
    used text not null,
    limit_value text not null,
    late integer not null,
    created_at integer not null,
    primary key (tenant_id, quota_id, threshold, period_start)
);
