-- Billing runs started over HTTP (and by `tally billing run`) are jobs (DESIGN §12): one row
-- per run. `status`: queued → running → succeeded | failed. The process running it bumps
-- `heartbeat_at` every few seconds; a queued or running row whose heartbeat stopped is marked
-- failed ("abandoned") by `tally serve` (at start and every half minute), since the process
-- that ran it is gone. `report` is the run's result (JSON text).
-- Instants are integer microseconds (see store/codec.rs).
create table billing_run (
    run_id text primary key,
    as_of integer not null,
    requested_by text not null,
    status text not null,
    tenants_done integer not null default 0,
    tenants_total integer not null default 0,
    report text,
    error text,
    created_at integer not null,
    started_at integer,
    finished_at integer,
    heartbeat_at integer not null,
    updated_at integer not null
);
create index billing_run_unfinished on billing_run (heartbeat_at) where status in ('queued', 'running');

-- A replayed `Idempotency-Key` answers the stored `Location` header too (202 for a run).
alter table idempotency add column response_location text;
