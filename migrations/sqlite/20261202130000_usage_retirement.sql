-- Months whose raw records retention has removed (`tally retention run`), as on PostgreSQL
-- (where the raw table is partitioned by month; SQLite's is not, so retention deletes a month's
-- rows in bounded batches). Rollups, invoices and snapshots stay forever; this says since when
-- a month is explainable only at the level of rollups, and keeps `tally rollups rebuild` from
-- erasing the rollups of those months.
create table usage_retirement (
    month_start integer primary key,
    month_end integer not null,
    retired_at integer not null
);
