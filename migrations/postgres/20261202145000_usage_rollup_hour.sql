-- The 15-minute rollups summed per UTC hour (src/store/rollup_hours.rs): a month-long usage
-- read sums a quarter of the rows. Derived from usage_rollup; never read alone. PostgreSQL
-- only: SQLite sums its rollups in Rust.
create table usage_rollup_hour (
    tenant_id text collate "C" not null,
    bucket_start timestamptz not null,
    function text not null,
    region text not null,
    cpu_cycles numeric not null,
    memory_gb_seconds numeric not null,
    invocations numeric not null,
    records bigint not null,
    primary key (tenant_id, bucket_start, function, region)
);

-- The hour watermark W: usage_rollup_hour is complete for every hour before `through`, and
-- holds nothing readers use at or after it (those hours are read from usage_rollup). The
-- write path adds only late deltas (hours before W); the compactor of `tally serve` moves W
-- forward by summing the 15-minute rows of the hours it passes. One row.
create table rollup_hour_watermark (
    one boolean primary key default true check (one),
    through timestamptz not null
);

insert into rollup_hour_watermark (through)
values (date_bin('1 hour', now(), timestamptz '2000-01-01 00:00:00+00'));

insert into usage_rollup_hour (tenant_id, bucket_start, function, region,
    cpu_cycles, memory_gb_seconds, invocations, records)
select tenant_id, date_bin('1 hour', bucket_start, timestamptz '2000-01-01 00:00:00+00'), function, region,
    sum(cpu_cycles), sum(memory_gb_seconds), sum(invocations), sum(records)::int8
from usage_rollup
where bucket_start < (select through from rollup_hour_watermark)
group by 1, 2, 3, 4
order by 1, 2, 3, 4;

-- What a writer of 15-minute rows reads W with: first a shared transaction lock on the
-- watermark key (0x74616c6c79686f75, "tallyhou"; `WATERMARK_LOCK` in rollup_hours.rs), which
-- the compactor takes exclusive, then W. A function so both cost one round trip, and plpgsql
-- because each of its statements takes a fresh snapshot: a writer that waited for the
-- compactor must see the W it committed, which a single `select lock(), W` would not (its
-- snapshot predates the wait).
create function rollup_hour_watermark_for_writer() returns timestamptz
language plpgsql volatile as $$
begin
    perform pg_advisory_xact_lock_shared(8386103194289729397);
    return (select through from rollup_hour_watermark);
end
$$;
