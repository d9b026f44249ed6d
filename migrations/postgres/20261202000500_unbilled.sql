-- Usage no subscription covers (DESIGN §6): one admin-visible entry per tenant and period,
-- written once (with its `usage.unbilled` outbox event) the first time the quota evaluator
-- sees such usage. The quantities are as seen then; usage/current shows them live.
create table unbilled_usage (
    tenant_id text not null,
    period_start timestamptz not null,
    period_end timestamptz not null,
    reason text not null,
    cpu_cycles numeric not null,
    memory_gb_seconds numeric not null,
    invocations numeric not null,
    records bigint not null,
    created_at timestamptz not null,
    primary key (tenant_id, period_start)
);
