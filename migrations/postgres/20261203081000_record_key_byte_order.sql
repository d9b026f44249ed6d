-- The rest of a usage record's key in byte order, as `tenant_id` already is (20261202070000):
-- every record inserted compares its key with a dozen others in its partition's primary key,
-- and every probe does the same. Under the database's collation each comparison of `source`
-- or `record_id` went through the C library's locale-aware `strcoll` (`bttextcmp` and what it
-- calls: a tenth of PostgreSQL's ingest CPU, perf); in byte order it is a `memcmp`.
-- Measured: 0.3 µs less PostgreSQL CPU per record ingested (BENCHMARKS.md, Dec 3). Keys are
-- compared for equality only, which every collation here answers alike; the order matches
-- SQLite's (`BINARY`).
--
-- Rebuilds each partition's primary key index (no table rewrite): on a large table run
-- `tally migrate` in a quiet hour.
alter table usage_record
    alter column source type text collate "C",
    alter column record_id type text collate "C";
