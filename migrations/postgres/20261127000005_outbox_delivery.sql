-- Outbox delivery (DESIGN §8). The business transaction still writes one `outbox` row per
-- event; the notify worker expands each event into one `outbox_delivery` per recipient (one
-- email per billing address, one call per subscribed webhook endpoint), so each recipient
-- has its own attempts, backoff and last error: one bad address or endpoint never blocks
-- or repeats the others.

-- An event is `pending` until the worker has written its deliveries, then `expanded`.
create index outbox_pending on outbox (next_attempt_at) where state = 'pending';

-- One message to one recipient. `delivery_id` is derived from (event, channel, recipient),
-- so expanding an event twice inserts nothing new (`on conflict do nothing`), and the email
-- Message-ID derived from it is the same on every attempt: a resend after a crash between
-- the server's 250 and `sent` is recognisable as the same message.
-- `state`: pending → sending (claimed: committed before the send; `next_attempt_at` is then
-- the lease's end, after which a crashed sender's row is due again) → sent | failed; a
-- retryable failure goes back to pending with the next backoff step.
create table outbox_delivery (
    tenant_id text not null,
    delivery_id text not null,
    message_id text not null,
    kind text not null,
    channel text not null,
    recipient text not null,
    state text not null,
    attempts integer not null default 0,
    next_attempt_at timestamptz not null,
    last_error text not null default '',
    sent_at timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    primary key (tenant_id, delivery_id)
);
-- The claim: due rows across tenants, oldest first.
create index outbox_delivery_due on outbox_delivery (next_attempt_at) where state in ('pending', 'sending');
-- The admin list, newest first.
create index outbox_delivery_listed on outbox_delivery (created_at desc, delivery_id desc);

-- Operator-registered webhook endpoints: global, like API keys (a Citus reference table).
-- The secret is kept as given (it signs every call, so it cannot be a one-way hash); it is
-- shown once, on creation, and never listed.
create table webhook_endpoint (
    endpoint_id text primary key,
    url text not null,
    events text not null,
    secret text not null,
    created_at timestamptz not null
);
