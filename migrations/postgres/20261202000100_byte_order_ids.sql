-- Ids sort by their bytes, as they do on SQLite, whatever locale the server was set up with:
-- lists paginated by id (tenants, plan versions) must return the same order and the same
-- cursor semantics on both engines. Under en_US, for example, 'a_c' sorts before 'a-a'.
alter table tenant alter column tenant_id type text collate "C";
alter table plan_version alter column plan_id type text collate "C";
