-- How far each billing run has looked for usage in periods no plan covers; see the PostgreSQL
-- migration for the why. Instants are integer microseconds (see store/codec.rs).
create table uncovered_checked (
    tenant_id text not null,
    checked_until integer not null,
    primary key (tenant_id)
);
