-- Every tenant_id sorts by its bytes, as tenant.tenant_id already does (20261202000100) and as
-- on SQLite. Citus requires it too: tables colocate with `tenant` only when their distribution
-- column has the same type and collation. A later tenant table declares
-- `tenant_id text collate "C" not null` (docs/operations.md, "Citus").
alter table usage_record alter column tenant_id type text collate "C";
alter table usage_rollup alter column tenant_id type text collate "C";
alter table usage_correction alter column tenant_id type text collate "C";
alter table subscription alter column tenant_id type text collate "C";
alter table billing_period alter column tenant_id type text collate "C";
alter table invoice alter column tenant_id type text collate "C";
alter table billed_line alter column tenant_id type text collate "C";
alter table credit_entry alter column tenant_id type text collate "C";
alter table outbox alter column tenant_id type text collate "C";
alter table outbox_delivery alter column tenant_id type text collate "C";
alter table quota alter column tenant_id type text collate "C";
alter table alert alter column tenant_id type text collate "C";
alter table unbilled_usage alter column tenant_id type text collate "C";
alter table portal_login_token alter column tenant_id type text collate "C";
alter table portal_session alter column tenant_id type text collate "C";
alter table api_key alter column tenant_id type text collate "C";
