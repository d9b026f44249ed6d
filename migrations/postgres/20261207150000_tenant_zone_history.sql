-- The time zones a tenant's billing periods followed before its current one (DESIGN §6: a
-- time zone change applies from the next period), oldest first, as a JSON array of
-- {"timezone": IANA name, "until": RFC 3339 instant}: each zone until the end of the period in
-- which the next was asked for. Empty for a tenant that never changed zone, as every tenant
-- before this migration is read (their periods were computed in the zone they have now).
alter table tenant add column timezone_history jsonb not null default '[]';
