-- Overdue reminders (`billing.overdue_reminder`): the billing run reminds each tenant once of
-- an invoice still unpaid some time after its due date. `due_at` copies the document's due
-- date (the document stays the record; a column lets the run find what fell due with an
-- index instead of reading every open invoice's JSON); `reminded_at` says when the reminder
-- was written, so a second run, or a second process, writes none (a conditional update).
alter table invoice add column due_at timestamptz;
alter table invoice add column reminded_at timestamptz;
update invoice set due_at = (document::jsonb ->> 'due_at')::timestamptz
    where document::jsonb ->> 'due_at' is not null;
create index invoice_awaiting_reminder on invoice (due_at) where status = 'finalized' and reminded_at is null;
