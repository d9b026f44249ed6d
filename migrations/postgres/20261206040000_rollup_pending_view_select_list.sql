-- `usage_rollup_pending`, the view every rollup read adds to its rows (migration
-- 20261203080000), with its `unnest`s in the select list rather than one multi-argument
-- `unnest` in `from`. Both run the arrays in step (the shorter padded with nulls), so the rows
-- are the same; the function scan in `from` builds a result store for every pending row it
-- unnests, the select list does not. A read of one tenant's month with 1 200 pending rows (about
-- a second of single-record ingest across ten tenants) took 9.4 ms, 6.1 ms now
-- (BENCHMARKS.md, Dec 6). A condition on `tenant_id` still reaches the index: only conditions on
-- the unnested columns stay above the `unnest`, as they did.
create or replace view usage_rollup_pending as
select tenant_id, unnest(bucket_starts) as bucket_start, unnest(functions) as function,
    unnest(regions) as region, unnest(cpu_cycles) as cpu_cycles,
    unnest(memory_gb_seconds) as memory_gb_seconds, unnest(invocations) as invocations,
    unnest(records) as records
from usage_rollup_pending_batch;
