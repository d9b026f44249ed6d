-- The key bounds per (tenant, source) *and month* (src/store/postgres/key_bounds.rs), replacing
-- usage_write_key_bounds() (migration 20261204120000), which read one lowest and highest id per
-- pair over every month looked in.
--
-- Why: with one pair of bounds over both months, a key inside them was probed in every month
-- looked in. After a group met a stored key, the next groups look in their own month as well;
-- their repeated keys (and a late request's) lie inside the bounds, and each was probed in last
-- month's primary key too, where ids that grow over time are never found: two descents where
-- one does. With bounds per month the writer gives each key inside only the months whose bounds
-- hold it, and the probe (a statement of the writer's, KEY_PROBE_SQL) prunes the others.
--
-- `region_starts`/`region_ends` are whole UTC months (or, for a very long window, whole-month
-- spans), so every row of a partition scanned passes the filter on `ts` and the first entry of
-- each index scan is the bound. Both ends are passed: `+ interval '1 month'` would follow the
-- session's time zone, not UTC.
create function usage_write_key_bounds_by_region(
    lock_keys int8[], shared_from timestamptz[], shared_until timestamptz[],
    pair_tenant_ids text[], pair_sources text[], region_starts timestamptz[], region_ends timestamptz[],
    out lowest text[], out highest text[])
language plpgsql volatile as $$
begin
    -- The locks exactly as usage_write_prelude() takes them (tenant_locks.rs).
    perform case when statement_timestamp() >= l.shared_from and statement_timestamp() < l.shared_until
        then pg_advisory_xact_lock_shared(l.lock_key) else pg_advisory_xact_lock(l.lock_key) end
    from unnest(lock_keys, shared_from, shared_until) as l (lock_key, shared_from, shared_until);
    -- One element per pair and region, pair-major, in the orders given; null where nothing is
    -- stored.
    select coalesce(array_agg(s.lowest order by p.n, g.n), '{}'), coalesce(array_agg(s.highest order by p.n, g.n), '{}')
    into lowest, highest
    from unnest(pair_tenant_ids, pair_sources) with ordinality as p (tenant_id, source, n)
    cross join unnest(region_starts, region_ends) with ordinality as g (starts, ends, n)
    cross join lateral (
        select min(u.record_id) as lowest, max(u.record_id) as highest from usage_record u
        where u.tenant_id = p.tenant_id and u.source = p.source and u.ts >= g.starts and u.ts < g.ends) as s;
end
$$;

drop function usage_write_key_bounds(int8[], timestamptz[], timestamptz[], text[], text[],
    timestamptz, timestamptz, timestamptz, timestamptz);
