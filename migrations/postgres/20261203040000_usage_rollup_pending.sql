-- Rollup deltas committed with their records and not yet added to usage_rollup
-- (src/store/rollup_pending.rs). A group commit appends its deltas here instead of upserting
-- the rollup rows of the current buckets: consecutive groups of both writers touched the same
-- rows, so their upserts took turns, each holding its rows through its commit's WAL flush, and
-- an upsert of a row costs several times an append. The fold of `tally serve` (every second)
-- moves the appended deltas into usage_rollup and, below the hour watermark, usage_rollup_hour,
-- in one transaction; every rollup read adds the rows still here, in the same statement, so a
-- read is exact whether or not the fold has run.
--
-- No primary key: a group's rows are new rows, never a conflict. The index serves reads of one
-- tenant's range. Rows live about a second, so the table is vacuumed by dead rows, not by share.
create table usage_rollup_pending (
    tenant_id text collate "C" not null,
    bucket_start timestamptz not null,
    function text not null,
    region text not null,
    cpu_cycles numeric not null,
    memory_gb_seconds numeric not null,
    invocations numeric not null,
    records bigint not null
) with (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000,
        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 100000);

create index usage_rollup_pending_by_tenant on usage_rollup_pending (tenant_id, bucket_start);

-- Writers no longer read the hour watermark W (they append 15-minute deltas only; the fold
-- reads W under the lock that serializes it with the compactor), so the prelude stops taking
-- W's lock and reading it.
drop function usage_write_prelude(int8[], timestamptz[], timestamptz[], text[], text[], text[],
    timestamptz, timestamptz, timestamptz, timestamptz);
drop function rollup_hour_watermark_for_writer();

-- What a transaction writing usage records runs first (src/store/postgres/prelude.rs), in one
-- round trip: (1) the tenant-bucket locks (tenant_locks.rs; the same statement as
-- LOCK_TENANT_BUCKETS_SQL), (2) the stored hashes of the group's keys found in the given
-- ranges of `ts`. plpgsql because each statement takes a fresh snapshot: the lookup must see
-- what writers that held a bucket lock committed while this one waited for it.
--
-- The lookup probes the primary key once per key (`lateral … limit 1`): as a plain join the
-- planner may hash a whole partition for a few thousand keys. One row comes back: the keys
-- found with their hashes as arrays.
create function usage_write_prelude(
    lock_keys int8[], shared_from timestamptz[], shared_until timestamptz[],
    tenant_ids text[], sources text[], record_ids text[],
    a timestamptz, b timestamptz, c timestamptz, d timestamptz,
    out found_tenant_ids text[], out found_sources text[],
    out found_record_ids text[], out found_hashes bytea[])
language plpgsql volatile as $$
begin
    perform case when statement_timestamp() >= l.shared_from and statement_timestamp() < l.shared_until
        then pg_advisory_xact_lock_shared(l.lock_key) else pg_advisory_xact_lock(l.lock_key) end
    from unnest(lock_keys, shared_from, shared_until) as l (lock_key, shared_from, shared_until);
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
