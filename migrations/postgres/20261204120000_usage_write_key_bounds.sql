-- The first call of a large group's write transaction (src/store/postgres/key_bounds.rs): the
-- tenant-bucket locks, then, per (tenant, source) of the group, the lowest and highest record
-- id stored in the months the group's keys are looked for — two descents of a primary key per
-- pair, not one per key. The writer probes only the keys between those bounds, with
-- usage_write_prelude() and no locks; a key outside them cannot be stored there.
--
-- Why: every day of a month the accepted window (35 days of lateness) reaches the month
-- before, so every group probed each of its keys in that month's primary key — a third of
-- PostgreSQL's CPU in batched ingest (perf, BENCHMARKS.md, Dec 4). Ids that grow over time
-- (counters, ULIDs, UUIDv7, time-prefixed request ids) lie above last month's highest and are
-- no longer probed; random ids fall between the bounds and are probed as before. An earlier
-- version filtered the keys by the bounds in SQL (Dec 3, reverted): PostgreSQL's executor cost
-- per key was about the probe's own, so nothing was saved. Here the filter runs in the writer.
--
-- Exact: the bounds are read after the locks, in a later snapshot, as the probe was; `a`–`d`
-- are whole UTC months (the partitions' own bounds), so every row of a partition scanned passes
-- the filter on `ts` and the first entry of each index scan is the bound. Ids compare in byte
-- order, the primary key's (`collate "C"`), as the writer compares them.
create function usage_write_key_bounds(
    lock_keys int8[], shared_from timestamptz[], shared_until timestamptz[],
    pair_tenant_ids text[], pair_sources text[],
    a timestamptz, b timestamptz, c timestamptz, d timestamptz,
    out lowest text[], out highest text[])
language plpgsql volatile as $$
begin
    -- The locks exactly as usage_write_prelude() takes them (tenant_locks.rs).
    perform case when statement_timestamp() >= l.shared_from and statement_timestamp() < l.shared_until
        then pg_advisory_xact_lock_shared(l.lock_key) else pg_advisory_xact_lock(l.lock_key) end
    from unnest(lock_keys, shared_from, shared_until) as l (lock_key, shared_from, shared_until);
    -- One element per pair, in the order given; null where nothing is stored.
    select coalesce(array_agg(s.lowest order by p.n), '{}'), coalesce(array_agg(s.highest order by p.n), '{}')
    into lowest, highest
    from unnest(pair_tenant_ids, pair_sources) with ordinality as p (tenant_id, source, n)
    cross join lateral (
        select min(u.record_id) as lowest, max(u.record_id) as highest from usage_record u
        where u.tenant_id = p.tenant_id and u.source = p.source
          and ((u.ts >= a and u.ts < b) or (u.ts >= c and u.ts < d))) as s;
end
$$;
