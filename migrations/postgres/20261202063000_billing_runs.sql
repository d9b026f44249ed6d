-- Billing runs started over HTTP (and by `tally billing run`) are jobs (DESIGN §12): one row
-- per run, global like job leases (a Citus reference table). `status`: queued → running →
-- succeeded | failed. The process running it bumps `heartbeat_at` every few seconds; a
-- queued or running row whose heartbeat stopped is marked failed ("abandoned") by any
-- `tally serve` (at start and every half minute), since the process that ran it is gone.
-- `report` is the run's result (the report the synchronous route used to answer).
create table billing_run (
    run_id text primary key,
    as_of timestamptz not null,
    requested_by text not null,
    status text not null,
    tenants_done bigint not null default 0,
    tenants_total bigint not null default 0,
    report jsonb,
    error text,
    created_at timestamptz not null,
    started_at timestamptz,
    finished_at timestamptz,
    heartbeat_at timestamptz not null,
    updated_at timestamptz not null
);
-- The reaper's scan: unfinished runs only.
create index billing_run_unfinished on billing_run (heartbeat_at) where status in ('queued', 'running');

-- A replayed `Idempotency-Key` answers the stored `Location` header too (202 for a run).
alter table idempotency add column response_location text;
