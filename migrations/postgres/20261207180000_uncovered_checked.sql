-- How far each billing run has looked for usage no subscription covers in periods with no plan
-- at all (DESIGN §6): such a period has nothing to close, so no `billing_period` row says it
-- was seen. `checked_until` is the latest `as_of − grace` a run reported them through: a later
-- run reports only the periods ending after it, so each is in one run's report, not in every
-- later one. Only tenants that have had such a period get a row (a tenant on a plan never does).
create table uncovered_checked (
    tenant_id text collate "C" not null,
    checked_until timestamptz not null,
    primary key (tenant_id)
);
