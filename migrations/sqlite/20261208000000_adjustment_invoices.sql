-- At most one `adjustment` invoice per tenant, period and currency; see the PostgreSQL
-- migration for the why.
create unique index invoice_adjustment_once on invoice (tenant_id, period_start, currency)
    where kind = 'adjustment';
