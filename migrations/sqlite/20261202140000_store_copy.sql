-- `tally store copy` bookkeeping; see the PostgreSQL migration for the why.
-- Instants are integer microseconds (see store/codec.rs).
create table store_copy (
    table_name text primary key,
    source text not null,
    after_key text,
    rows_copied integer not null default 0,
    done integer not null default 0,
    started_at integer not null,
    updated_at integer not null
);
