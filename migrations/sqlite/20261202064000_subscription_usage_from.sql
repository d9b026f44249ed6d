-- Fees from the true instant, usage from its bucket or the first period; see the PostgreSQL
-- migration for the why. Existing rows were snapped, so both instants are the same for them.
alter table subscription add column usage_from integer not null default 0;
update subscription set usage_from = effective_at;
