-- Late usage of a period billed in a currency the tenant has since switched away from goes on
-- an `adjustment` invoice of its own, issued beside the next `period` invoice (one invoice is
-- in one currency). At most one per tenant, period and currency: like `invoice_period_once`,
-- a second one from a concurrent or repeated run is refused here, not only by the period claim.
create unique index invoice_adjustment_once on invoice (tenant_id, period_start, currency)
    where kind = 'adjustment';
