-- Overdue reminders (`billing.overdue_reminder`): the billing run reminds each tenant once of
-- an invoice still unpaid some time after its due date. `due_at` copies the document's due
-- date (the document stays the record; a column lets the run find what fell due with an
-- index instead of reading every open invoice's JSON); `reminded_at` says when the reminder
-- was written, so a second run, or a second process, writes none (a conditional update).
alter table invoice add column due_at timestamptz;
alter table invoice add column reminded_at timestamptz;
-- The stored text is always UTC, `2026-11-15T02:00:00Z` or with microseconds. Read with
-- immutable functions only: Citus refuses a cast to `timestamptz` (stable: it reads the
-- session's time zone) in an update across shards.
update invoice set due_at = make_timestamp(
        substr(d, 1, 4)::int, substr(d, 6, 2)::int, substr(d, 9, 2)::int,
        substr(d, 12, 2)::int, substr(d, 15, 2)::int, rtrim(substr(d, 18), 'Z')::float8
    ) at time zone 'UTC'
    from (select tenant_id as t, invoice_id as i, document::jsonb ->> 'due_at' as d from invoice) as due
    where invoice.tenant_id = due.t and invoice.invoice_id = due.i and due.d is not null;
create index invoice_awaiting_reminder on invoice (due_at) where status = 'finalized' and reminded_at is null;
