-- Outbox delivery for SQLite; see the PostgreSQL migration for the why of each.
create index outbox_pending on outbox (next_attempt_at) where state = 'pending';

create table outbox_delivery (
    tenant_id text not null,
    delivery_id text not null,
    message_id text not null,
    kind text not null,
    channel text not null,
    recipient text not null,
    state text not null,
    attempts integer not null default 0,
    next_attempt_at integer not null,
    last_error text not null default '',
    sent_at integer,
    created_at integer not null,
    updated_at integer not null,
    primary key (tenant_id, delivery_id)
);
create index outbox_delivery_due on outbox_delivery (next_attempt_at) where state in ('pending', 'sending');
create index outbox_delivery_listed on outbox_delivery (created_at desc, delivery_id desc);

create table webhook_endpoint (
    endpoint_id text primary key,
    url text not null,
    events text not null,
    secret text not null,
    created_at integer not null
);
