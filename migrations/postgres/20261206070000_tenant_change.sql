-- The quota evaluator's feed (DESIGN §9: "the evaluator reads what changed since its last
-- pass"): one row per tenant whose usage, quotas, subscriptions, credits or details a
-- `tally serve` committed since an evaluator last took the rows. Each process collects the
-- tenants it wrote in memory (nothing is added to the ingest path's statements) and writes
-- them here about once a second; any evaluator's pass takes (deletes) every row and reads
-- those tenants only. A row is a hint, never a record: one lost in a crash between commit and
-- write is found by the restarted process's first pass, which reads every tenant, and by
-- every evaluator's periodic sweep. No foreign key: the table is a queue, kept small by the
-- evaluators. On Citus it stays on the coordinator (a handful of rows, one statement a
-- second per process).
create table tenant_change (
    tenant_id text collate "C" primary key
);
