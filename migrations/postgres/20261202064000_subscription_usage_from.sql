-- Fees and usage of a subscription start at different instants (DESIGN §6): fixed fees are
-- prorated from the true instant of the change (`effective_at`, no longer snapped to 15
-- minutes), usage is attributed by bucket from `usage_from` — the bucket holding the change,
-- or, for the plan a tenant is created on, the start of its first period. Existing rows were
-- snapped, so both instants are the same for them.
alter table subscription add column usage_from timestamptz;
update subscription set usage_from = effective_at;
alter table subscription alter column usage_from set not null;
