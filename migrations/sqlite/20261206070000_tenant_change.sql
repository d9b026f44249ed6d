-- The quota evaluator's feed; see the PostgreSQL migration for the why.
create table tenant_change (
    tenant_id text primary key
);
