-- Raw usage partitioned by record time, one partition per UTC month (DESIGN §2, issue 14), so
-- that retention drops whole months (`drop table`, no row-by-row delete, no bloat) and a
-- month's index stays the size of a month.
--
-- Managed by Tally itself, not pg_partman: no extension to install, and the same statements
-- work on plain PostgreSQL and on Citus (where a partition created later is distributed like
-- its parent). Partitions are created here (every month holding data, and the current month
-- plus the next two), ahead of time by `tally serve`'s maintenance task, and on demand by the
-- write path before it inserts a record of a month without one (src/store/partitions.rs).
-- There is no default partition: a record for a month without a partition fails its whole
-- group (503, retried by the client), never acknowledged, never lost — and a default
-- partition holding rows would block creating the month's real partition.
--
-- Exactly-once: a primary key on a partitioned table must include the partition column, so the
-- parent has none; each partition has its own primary key on (tenant_id, source, record_id),
-- and the write path probes the other partitions the accepted window reaches
-- (src/store/postgres/probe.rs).
--
-- An existing table is copied into the new one (a one-off full copy: on a large table, run
-- `tally migrate` in a maintenance window).
alter table usage_record rename to usage_record_unpartitioned;
alter index usage_record_pkey rename to usage_record_unpartitioned_pkey;

create table usage_record (
    tenant_id text collate "C" not null,
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
    ingested_at timestamptz not null default now()
) partition by range (ts);

-- Month arithmetic in UTC whatever the session's time zone.
do $$
declare
    month timestamptz;
    last_month timestamptz;
begin
    select date_trunc('month', least(coalesce(min(ts), now()), now()), 'UTC'),
           date_trunc('month', greatest(coalesce(max(ts), now()), now() + interval '62 days'), 'UTC')
      into month, last_month
      from usage_record_unpartitioned;
    while month <= last_month loop
        execute format(
            'create table %I partition of usage_record (primary key (tenant_id, source, record_id)) '
            'for values from (%L) to (%L)',
            'usage_record_p' || to_char(month at time zone 'UTC', 'YYYYMM'),
            month,
            (month at time zone 'UTC' + interval '1 month') at time zone 'UTC');
        month := (month at time zone 'UTC' + interval '1 month') at time zone 'UTC';
    end loop;
end $$;

insert into usage_record (tenant_id, source, record_id, ts, function, region,
    cpu_cycles, memory_gb_seconds, invocations, event_type, content_hash, ingested_at)
select tenant_id, source, record_id, ts, function, region,
    cpu_cycles, memory_gb_seconds, invocations, event_type, content_hash, ingested_at
from usage_record_unpartitioned;

drop table usage_record_unpartitioned;

-- Months whose raw records retention has removed (`tally retention run`). Rollups, invoices
-- and their snapshots stay forever; this says since when a month is explainable only at the
-- level of rollups, and keeps `tally rollups rebuild` from erasing the rollups of those months.
-- Global (not tenant data): a reference table on Citus.
create table usage_retirement (
    month_start timestamptz primary key,
    month_end timestamptz not null,
    retired_at timestamptz not null
);
