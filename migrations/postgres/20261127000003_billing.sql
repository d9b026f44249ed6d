-- Billing: periods, invoices and their lines, what each line billed, gapless numbering,
-- the credit ledger, and the outbox. Tenant tables key on tenant_id first; the counters are
-- global (a Citus reference table).

-- One row per (tenant, period) once a billing run has considered it; `closed` after its
-- invoice is issued. The primary key is what makes "exactly one invoice per period" hold
-- across concurrent runs: a run claims the row `for update skip locked`.
create table billing_period (
    tenant_id text not null,
    period_start timestamptz not null,
    period_end timestamptz not null,
    state text not null,
    closed_at timestamptz,
    invoice_id text,
    primary key (tenant_id, period_start)
);

-- Invoice ids embed the tenant (`<tenant>.<uuid>`) so `/v1/invoices/{id}` finds the shard
-- without a global index. `document` is the full snapshot (JSON) every rendering reads.
create table invoice (
    tenant_id text not null,
    invoice_id text not null,
    kind text not null,
    number text not null,
    status text not null,
    period_start timestamptz not null,
    period_end timestamptz not null,
    currency text not null,
    subtotal numeric not null,
    tax numeric not null,
    credits_applied numeric not null,
    total numeric not null,
    document text not null,
    issued_at timestamptz not null,
    paid_at timestamptz,
    voided_at timestamptz,
    credit_note_number text,
    created_at timestamptz not null,
    primary key (tenant_id, invoice_id)
);
create unique index invoice_period_once on invoice (tenant_id, period_start) where kind = 'period';
create index invoice_by_tenant on invoice (tenant_id, period_start desc, invoice_id);

-- What each line billed, by the key the late-usage rule compares on:
-- (period, segment start, line kind, meter). Σ over invoices = what is already billed.
create table billed_line (
    tenant_id text not null,
    period_start timestamptz not null,
    line_key text not null,
    invoice_id text not null,
    amount numeric not null,
    primary key (tenant_id, period_start, line_key, invoice_id)
);

-- Gapless numbers per issuer prefix, kind (INV, CN) and year: taken with UPDATE … RETURNING
-- inside the finalize transaction, so a rolled-back run leaves no gap (a sequence would).
create table number_counter (
    prefix text not null,
    year integer not null,
    next_value bigint not null,
    primary key (prefix, year)
);

-- Append-only credit ledger: grants, consumptions (linked to an invoice) and restorations.
create table credit_entry (
    tenant_id text not null,
    entry_id text not null,
    kind text not null,
    grant_id text not null,
    amount numeric not null,
    currency text not null,
    expires_at timestamptz,
    reason text not null,
    invoice_id text,
    created_at timestamptz not null,
    primary key (tenant_id, entry_id)
);

-- Transactional outbox: written with the business event, delivered later (email, webhooks).
create table outbox (
    tenant_id text not null,
    message_id text not null,
    kind text not null,
    payload text not null,
    state text not null,
    attempts integer not null default 0,
    next_attempt_at timestamptz not null,
    created_at timestamptz not null,
    primary key (tenant_id, message_id)
);

-- A finalized invoice's content never changes; only its status (and the timestamps and
-- credit-note number that go with a status change) may move. Enforced here, not only in the API.
create function invoice_is_immutable() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        if old.status <> 'draft' then
            raise exception 'invoice % is % and cannot be deleted', old.invoice_id, old.status;
        end if;
        return old;
    end if;
    if old.status <> 'draft' and (
        new.number, new.kind, new.period_start, new.period_end, new.currency, new.subtotal, new.tax,
        new.credits_applied, new.total, new.document, new.issued_at, new.tenant_id, new.invoice_id
    ) is distinct from (
        old.number, old.kind, old.period_start, old.period_end, old.currency, old.subtotal, old.tax,
        old.credits_applied, old.total, old.document, old.issued_at, old.tenant_id, old.invoice_id
    ) then
        raise exception 'invoice % is % and its content cannot change', old.invoice_id, old.status;
    end if;
    return new;
end $$;

create trigger invoice_immutable before update or delete on invoice
    for each row execute function invoice_is_immutable();

create function billed_line_is_immutable() returns trigger language plpgsql as $$
begin
    raise exception 'billed lines are append-only';
end $$;

create trigger billed_line_immutable before update or delete on billed_line
    for each row execute function billed_line_is_immutable();
