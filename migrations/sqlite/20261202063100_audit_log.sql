-- The audit log (DESIGN §10, §12): every admin change appends one row in the transaction of
-- the change itself, so a change that rolls back leaves none. Append-only: the service has
-- no update or delete of it, and the triggers below refuse anyone else. `tenant_id` is the
-- target's tenant ('' for global objects), as `actor_tenant_id` is the credential's scope
-- ('' for a global credential). `event_id` grows in append order (autoincrement never
-- reuses one): the listing is newest first by it, and its cursor.
-- Instants are integer microseconds (see store/codec.rs); `detail` is JSON text.
create table audit_event (
    event_id integer primary key autoincrement,
    at integer not null,
    actor_role text not null,
    actor_subject text not null,
    actor_tenant_id text not null,
    request_id text not null,
    action text not null,
    target_kind text not null,
    target_id text not null,
    tenant_id text not null,
    detail text not null
);
create index audit_event_by_tenant on audit_event (tenant_id, event_id desc);

create trigger audit_event_no_update before update on audit_event
begin
    select raise(abort, 'the audit log is append-only');
end;

create trigger audit_event_no_delete before delete on audit_event
begin
    select raise(abort, 'the audit log is append-only');
end;
