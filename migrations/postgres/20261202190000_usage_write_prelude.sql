-- What a transaction writing usage records runs first (src/store/postgres/prelude.rs), in one
-- round trip instead of three: (1) the tenant-bucket locks (tenant_locks.rs; the same
-- statement as LOCK_TENANT_BUCKETS_SQL), (2) the hour watermark W under its shared lock
-- (rollup_hour_watermark_for_writer), (3) the stored hashes of the group's keys found in the
-- given ranges of `ts`. plpgsql because each statement takes a fresh snapshot: the lookup must
-- see what writers that held a bucket lock committed while this one waited for it.
--
-- The lookup probes the primary key once per key (`lateral … limit 1`): as a plain join the
-- planner may hash a whole partition for a few thousand keys. One row comes back: W, and the
-- keys found with their hashes as arrays.
create function usage_write_prelude(
    lock_keys int8[], shared_from timestamptz[], shared_until timestamptz[],
    tenant_ids text[], sources text[], record_ids text[],
    a timestamptz, b timestamptz, c timestamptz, d timestamptz,
    out watermark timestamptz, out found_tenant_ids text[], out found_sources text[],
    out found_record_ids text[], out found_hashes bytea[])
language plpgsql volatile as $$
begin
    perform case when statement_timestamp() >= l.shared_from and statement_timestamp() < l.shared_until
        then pg_advisory_xact_lock_shared(l.lock_key) else pg_advisory_xact_lock(l.lock_key) end
    from unnest(lock_keys, shared_from, shared_until) as l (lock_key, shared_from, shared_until);
    watermark := rollup_hour_watermark_for_writer();
    select coalesce(array_agg(k.tenant_id), '{}'), coalesce(array_agg(k.source), '{}'),
        coalesce(array_agg(k.record_id), '{}'), coalesce(array_agg(r.content_hash), '{}')
    into found_tenant_ids, found_sources, found_record_ids, found_hashes
    from unnest(tenant_ids, sources, record_ids) as k (tenant_id, source, record_id)
    cross join lateral (
        select u.content_hash from usage_record u
        where u.tenant_id = k.tenant_id and u.source = k.source and u.record_id = k.record_id
          and ((u.ts >= a and u.ts < b) or (u.ts >= c and u.ts < d))
        limit 1) as r;
end
$$;
