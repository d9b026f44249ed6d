-- The audit log (DESIGN §10, §12): every admin change appends one row in the transaction of
-- the change itself, so a change that rolls back leaves none. Append-only: the service has
-- no update or delete of it, and the trigger below refuses anyone else. Global (a Citus
-- reference table); `tenant_id` is the target's tenant ('' for global objects), as
-- `actor_tenant_id` is the credential's scope ('' for a global credential).
-- `event_id` grows in append order: the listing is newest first by it, and its cursor.
create table audit_event (
    event_id bigint generated always as identity primary key,
    at timestamptz not null,
    actor_role text not null,
    actor_subject text not null,
    actor_tenant_id text not null,
    request_id text not null,
    action text not null,
    target_kind text not null,
    target_id text not null,
    tenant_id text not null,
    detail jsonb not null
);
create index audit_event_by_tenant on audit_event (tenant_id, event_id desc);

create function audit_event_is_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'the audit log is append-only';
end $$;

create trigger audit_event_append_only before update or delete on audit_event
    for each row execute function audit_event_is_append_only();
