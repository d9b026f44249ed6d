-- The prelude's lookup of a group's keys in the other months (src/store/postgres/prelude.rs)
-- probes only the keys that can be there. Every day of a month the accepted window (35 days of
-- lateness by default) reaches the month before, so every group looked each of its keys up in
-- that month's primary key: one index descent and a heap fetch per record ingested, ≈ 2.5 µs
-- of PostgreSQL CPU a record on the bench machine (a previous month of 1 000 000 records,
-- BENCHMARKS.md) — a sixth of batched ingest, for keys that are almost never there.
--
-- Now the lookup first reads, per (tenant, source) of the group, the lowest and highest
-- record id stored in the months it searches: two descents of the primary key per pair (its
-- first and last entry), not per key. A key outside those bounds cannot be stored there and
-- is not probed; a key inside them is probed as before. Exact whatever the ids look like:
-- the bounds are read in the lookup's own snapshot, after the bucket locks, over a superset of
-- the rows the probe searches (the ranges widened to whole UTC months, the partitions' own
-- bounds, so the first entry of an index scan always passes the filter on `ts`). Ids that grow
-- over time (counters, ULIDs, UUIDv7, time-prefixed request ids) skip nearly every probe;
-- random ids (UUIDv4) fall inside the bounds and pay what they paid before, plus two
-- descents per pair. Ids compare in byte order, the primary key's (`collate "C"`).
--
-- usage_write_new() (migration 20261203100000) calls this function, so it gains the same.
create or replace function usage_write_prelude(
    lock_keys int8[], shared_from timestamptz[], shared_until timestamptz[],
    tenant_ids text[], sources text[], record_ids text[],
    a timestamptz, b timestamptz, c timestamptz, d timestamptz,
    out found_tenant_ids text[], out found_sources text[],
    out found_record_ids text[], out found_hashes bytea[])
language plpgsql volatile as $$
declare
    -- [a, b) and [c, d) widened to whole UTC months; an empty range stays empty.
    month_a timestamptz := date_trunc('month', a, 'UTC');
    month_b timestamptz := case when b > a
        then (date_trunc('month', b - interval '1 microsecond', 'UTC') at time zone 'UTC' + interval '1 month') at time zone 'UTC'
        else month_a end;
    month_c timestamptz := date_trunc('month', c, 'UTC');
    month_d timestamptz := case when d > c
        then (date_trunc('month', d - interval '1 microsecond', 'UTC') at time zone 'UTC' + interval '1 month') at time zone 'UTC'
        else month_c end;
begin
    perform case when statement_timestamp() >= l.shared_from and statement_timestamp() < l.shared_until
        then pg_advisory_xact_lock_shared(l.lock_key) else pg_advisory_xact_lock(l.lock_key) end
    from unnest(lock_keys, shared_from, shared_until) as l (lock_key, shared_from, shared_until);
    with keys as materialized (
        select * from unnest(tenant_ids, sources, record_ids) as k (tenant_id, source, record_id)
    ),
    bounds as materialized (
        select p.tenant_id, p.source, s.lowest, s.highest
        from (select distinct tenant_id, source from keys) as p
        cross join lateral (
            select min(u.record_id) as lowest, max(u.record_id) as highest from usage_record u
            where u.tenant_id = p.tenant_id and u.source = p.source
              and ((u.ts >= month_a and u.ts < month_b) or (u.ts >= month_c and u.ts < month_d))) as s
    )
    select coalesce(array_agg(k.tenant_id), '{}'), coalesce(array_agg(k.source), '{}'),
        coalesce(array_agg(k.record_id), '{}'), coalesce(array_agg(r.content_hash), '{}')
    into found_tenant_ids, found_sources, found_record_ids, found_hashes
    from keys k
    join bounds kb on kb.tenant_id = k.tenant_id and kb.source = k.source
    cross join lateral (
        select u.content_hash from usage_record u
        where u.tenant_id = k.tenant_id and u.source = k.source and u.record_id = k.record_id
          and ((u.ts >= a and u.ts < b) or (u.ts >= c and u.ts < d))
        limit 1) as r
    where k.record_id collate "C" between kb.lowest and kb.highest;
end
$$;
