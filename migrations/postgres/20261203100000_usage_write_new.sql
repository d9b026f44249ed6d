-- A small group of new records written in one call (src/store/postgres/one_call.rs): the
-- prelude (tenant-bucket locks, the lookup of the group's keys in the other months), the
-- records and their rollup deltas. Sent outside an explicit transaction, the call is its own
-- transaction: one round trip per group commit where BEGIN, the prelude, the insert, the
-- append and COMMIT took five. With single-record requests a group holds a few dozen records,
-- and the round trips, not the rows, were most of what a group cost both processes.
--
-- When the lookup finds a key of the group in another month nothing is written and the keys
-- found come back: the caller then writes the group on the transaction path, which leaves the
-- found records out and tells duplicates from conflicts. A key stored in the group's own month
-- fails the insert (unique violation) and the call writes nothing, as `COPY` does.
--
-- The two inserts are the statements the transaction path sends (PLAIN_INSERT_RECORDS_SQL in
-- src/store/postgres/usage.rs, APPEND_SQL in src/store/rollup_pending.rs); the rollup deltas
-- are folded by the caller from exactly these records, each with its UTC month.
create function usage_write_new(
    lock_keys int8[], shared_from timestamptz[], shared_until timestamptz[],
    tenant_ids text[], sources text[], record_ids text[],
    a timestamptz, b timestamptz, c timestamptz, d timestamptz,
    stamps timestamptz[], functions text[], regions text[], cpu_cycles int8[],
    memory_gb_seconds numeric[], invocations int8[], event_types text[], content_hashes bytea[],
    ingested_at timestamptz,
    delta_tenant_ids text[], delta_buckets timestamptz[], delta_functions text[], delta_regions text[],
    delta_cpu_cycles numeric[], delta_memory_gb_seconds numeric[], delta_invocations numeric[],
    delta_records int8[], delta_months timestamptz[],
    out found_tenant_ids text[], out found_sources text[],
    out found_record_ids text[], out found_hashes bytea[])
language plpgsql volatile as $$
begin
    select * into found_tenant_ids, found_sources, found_record_ids, found_hashes
    from usage_write_prelude(lock_keys, shared_from, shared_until, tenant_ids, sources, record_ids, a, b, c, d);
    if cardinality(found_tenant_ids) > 0 then
        return;
    end if;
    insert into usage_record (tenant_id, source, record_id, ts, function, region,
        cpu_cycles, memory_gb_seconds, invocations, event_type, content_hash, ingested_at)
    select t.*, ingested_at
    from unnest(tenant_ids, sources, record_ids, stamps, functions, regions, cpu_cycles,
        memory_gb_seconds, invocations, event_types, content_hashes) as t;
    insert into usage_rollup_pending_batch (tenant_id, month_start, bucket_starts, functions, regions,
        cpu_cycles, memory_gb_seconds, invocations, records)
    select p.tenant_id, p.month_start, array_agg(p.bucket_start), array_agg(p.function), array_agg(p.region),
        array_agg(p.cpu_cycles), array_agg(p.memory_gb_seconds), array_agg(p.invocations), array_agg(p.records)
    from unnest(delta_tenant_ids, delta_buckets, delta_functions, delta_regions, delta_cpu_cycles,
        delta_memory_gb_seconds, delta_invocations, delta_records, delta_months)
        as p (tenant_id, bucket_start, function, region, cpu_cycles, memory_gb_seconds, invocations, records, month_start)
    group by p.tenant_id, p.month_start;
end
$$;
