-- A tenant's own payment terms (DESIGN §7), overriding TALLY_PAYMENT_TERMS when set. Stored
-- as the canonical duration text ('30d', '36h'), read back through the same parser as the
-- setting; null = the configured default. Invoices snapshot the resulting due date, so a
-- later change never moves the due date of an issued invoice.
alter table tenant add column payment_terms text;
