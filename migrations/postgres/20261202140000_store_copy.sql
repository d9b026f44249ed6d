-- `tally store copy` (docs/operations.md, "Moving stores, backups and restore"): while a copy
-- into this database is under way, one row per copied table, written by the copy itself.
-- `after_key` is the key (JSON) of the last source row committed here, updated in the same
-- transaction as the batch it ends, so an interrupted copy resumes exactly after it: no row
-- twice, none skipped, and no reliance on an `on conflict` key (the raw table's may change).
-- While any row exists the database is an unverified copy and `tally serve` refuses to start
-- on it; a clean `--verify` deletes the rows. On Citus this table stays on the coordinator.
create table store_copy (
    table_name text primary key,
    source text not null,
    after_key text,
    rows_copied bigint not null default 0,
    done boolean not null default false,
    started_at timestamptz not null,
    updated_at timestamptz not null
);
