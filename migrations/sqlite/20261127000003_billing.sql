-- Billing tables for SQLite; see the PostgreSQL migration for the why of each.
create table billing_period (
    tenant_id text not null,
    period_start integer not null,
    period_end integer not null,
    state text not null,
    closed_at integer,
    invoice_id text,
    primary key (tenant_id, period_start)
);

create table invoice (
    tenant_id text not null,
    invoice_id text not null,
    kind text not null,
    number text not null,
    status text not null,
    period_start integer not null,
    period_end integer not null,
    currency text not null,
    subtotal text not null,
    tax text not null,
    credits_applied text not null,
    total text not null,
    document text not null,
    issued_at integer not null,
    paid_at integer,
    voided_at integer,
    credit_note_number text,
    created_at integer not null,
    primary key (tenant_id, invoice_id)
);
create unique index invoice_period_once on invoice (tenant_id, period_start) where kind = 'period';
create index invoice_by_tenant on invoice (tenant_id, period_start desc, invoice_id);

create table billed_line (
    tenant_id text not null,
    period_start integer not null,
    line_key text not null,
    invoice_id text not null,
    amount text not null,
    primary key (tenant_id, period_start, line_key, invoice_id)
);

create table number_counter (
    prefix text not null,
    year integer not null,
    next_value integer not null,
    primary key (prefix, year)
);

create table credit_entry (
    tenant_id text not null,
    entry_id text not null,
    kind text not null,
    grant_id text not null,
    amount text not null,
    currency text not null,
    expires_at integer,
    reason text not null,
    invoice_id text,
    created_at integer not null,
    primary key (tenant_id, entry_id)
);

create table outbox (
    tenant_id text not null,
    message_id text not null,
    kind text not null,
    payload text not null,
    state text not null,
    attempts integer not null default 0,
    next_attempt_at integer not null,
    created_at integer not null,
    primary key (tenant_id, message_id)
);

create trigger invoice_no_content_change before update on invoice
when old.status <> 'draft' and (
    new.number is not old.number or new.kind is not old.kind or new.period_start is not old.period_start
    or new.period_end is not old.period_end or new.currency is not old.currency
    or new.subtotal is not old.subtotal or new.tax is not old.tax
    or new.credits_applied is not old.credits_applied or new.total is not old.total
    or new.document is not old.document or new.issued_at is not old.issued_at
    or new.tenant_id is not old.tenant_id or new.invoice_id is not old.invoice_id
)
begin
    select raise(abort, 'a finalized invoice''s content cannot change');
end;

create trigger invoice_no_delete before delete on invoice
when old.status <> 'draft'
begin
    select raise(abort, 'a finalized invoice cannot be deleted');
end;

create trigger billed_line_no_update before update on billed_line
begin
    select raise(abort, 'billed lines are append-only');
end;

create trigger billed_line_no_delete before delete on billed_line
begin
    select raise(abort, 'billed lines are append-only');
end;
