-- Quotas, budgets and their alerts (DESIGN §9).

-- A tenant's own quotas: the operator's set (`PUT /v1/tenants/{id}/quotas`, owner 'operator')
-- and the tenant's budgets (`PUT …/budgets`, owner 'tenant'). One id space per tenant, so an
-- alert or an entitlement names one quota; plan defaults live in the plan files, not here.
create table quota (
    tenant_id text not null,
    quota_id text not null,
    owner text not null,
    meter text not null,
    limit_value numeric not null,
    -- JSON array of percents, ascending.
    thresholds jsonb not null,
    hard boolean not null,
    created_at timestamptz not null,
    primary key (tenant_id, quota_id)
);

-- One row per threshold crossed: the key is what makes "exactly one alert per (tenant, quota,
-- threshold, period)" hold across evaluator passes, restarts, usage dipping and rising again,
-- and several processes (`insert … on conflict do nothing`; the outbox row is written in the
-- same transaction only when the insert took).
create table alert (
    tenant_id text not null,
    quota_id text not null,
    threshold bigint not null,
    period_start timestamptz not null,
    period_end timestamptz not null,
    meter text not null,
    used numeric not null,
    limit_value numeric not null,
    late boolean not null,
    created_at timestamptz not null,
    primary key (tenant_id, quota_id, threshold, period_start)
);
