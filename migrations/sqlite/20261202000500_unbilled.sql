-- Usage no subscription covers (DESIGN §6): one admin-visible entry per tenant and period,
-- written once (with its `usage.unbilled` outbox event) the first time the quota evaluator
-- sees such usage. The quantities are as seen then; usage/current shows them live.
-- Instants are integer microseconds, decimals normalized text (see store/codec.rs).
create table unbilled_usage (
    tenant_id text not null,
    period_start integer not null,
    period_end integer not null,
    reason text not null,
    cpu_cycles text not null,
    memory_gb_seconds text not null,
    invocations text not null,
    records integer not null,
    created_at integer not null,
    primary key (tenant_id, period_start)
);
