-- Overdue reminders; see the PostgreSQL migration for the why. Instants are microseconds since
-- the epoch: the copied due dates of invoices issued before this migration keep milliseconds
-- (all SQLite's `strftime` reads), which is all a reminder's timing needs; the document keeps
-- the exact date.
alter table invoice add column due_at integer;
alter table invoice add column reminded_at integer;
update invoice set due_at =
    cast(strftime('%s', json_extract(document, '$.due_at')) as integer) * 1000000
    + cast(substr(strftime('%f', json_extract(document, '$.due_at')), 4) as integer) * 1000
    where json_extract(document, '$.due_at') is not null;
create index invoice_awaiting_reminder on invoice (due_at) where status = 'finalized' and reminded_at is null;
