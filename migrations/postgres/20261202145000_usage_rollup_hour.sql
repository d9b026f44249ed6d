-- The 15-minute rollups summed per UTC hour (src/store/rollup_hours.rs): a month-long usage
-- read sums a quarter of the rows. Derived from usage_rollup and kept in the same
-- transactions; never read alone. PostgreSQL only: SQLite sums its rollups in Rust.
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

insert into usage_rollup_hour (tenant_id, bucket_start, function, region,
    cpu_cycles, memory_gb_seconds, invocations, records)
select tenant_id, date_bin('1 hour', bucket_start, timestamptz '2000-01-01 00:00:00+00'), function, region,
    sum(cpu_cycles), sum(memory_gb_seconds), sum(invocations), sum(records)::int8
from usage_rollup
group by 1, 2, 3, 4
order by 1, 2, 3, 4;
