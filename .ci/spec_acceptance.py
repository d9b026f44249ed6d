"""How much of what api-spec/ allows does the API accept? (Nearly all: a schema that allows
what the API refuses misleads every client generated from it.)

For every operation, draws schema-valid requests (schemathesis' positive generation: bodies,
queries and headers exactly as the spec describes them; tenant paths fixed to the seeded tenant
`acme`), sends them to the running service, and counts those refused as invalid: a 400 or 422
whose error code says the request itself is malformed. Refusals that depend on the data already
stored rather than on the request — an id that does not exist, an Idempotency-Key seen with
another body, a record id stored with other content, a plan id not in the catalogue, a cursor
the API never issued — are not the schema's fault and do not count. Prints a table and exits 1
when any operation refuses more than MAX_REFUSED of the requests its schema allows.

Usage: spec_acceptance.py SPEC BASE_URL ADMIN_KEY [EXAMPLES]
"""

import os
import sys

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

# Every operation accepts nearly all of what its schema allows: refusals the schema could
# have prevented are spec drift (each measured at 0 % when this was set; 50 examples each).
MAX_REFUSED = 0.1

# Refusals that depend on stored state, not on the request's shape.
STATE_CODES = {
    "not_found",
    "unknown_tenant",
    "idempotency_key_reused",
    "conflicting_duplicate",
    "unknown_plan",
    "invalid_cursor",
    "tenant_exists",
    "already_exists",
    "conflict",
    "quota_id_taken",
    "credit_currency_mismatch",  # the tenant's plan decides its currency
    "credit_exhausted",  # what is left of the grant decides
    "hard_budget_not_allowed",  # the tenant's plan decides
}
# Refusals relative to the server's clock (JSON Schema has no "now"): the record window of
# DESIGN §3, billing in the future and too far ahead (DESIGN §12).
CLOCK_CODES = {
    "timestamp_too_old",
    "timestamp_in_future",
    "time_travel_not_allowed",
    "as_of_too_far_ahead",
    "period_closed",
    "credit_expired",
}
# Relations that JSON Schema cannot state (each is in the field's description instead),
# matched on the message: between two fields, between items of a list (an id used twice),
# and between a value and stored state (a spend limit finer than the tenant's currency).
CROSS_FIELD = (
    "from must be before to",
    "the range spans more than",
    "appears twice",
    "has more decimals than its currency",
)


def refused_as_invalid(response) -> bool:
    if response.status_code not in (400, 422):
        return False
    try:
        body = response.json()
    except ValueError:
        return True
    errors = body.get("errors") or [body.get("error", {})]
    return not all(
        e.get("code") in STATE_CODES
        or e.get("code") in CLOCK_CODES
        or any(m in e.get("message", "") for m in CROSS_FIELD)
        for e in errors
    )


def reason_of(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:80]
    errors = body.get("errors") or [body.get("error", {})]
    return "; ".join(f"{e.get('code')}: {e.get('message', '')[:70]}" for e in errors[:1])


def measure(operation, base_url, key, examples):
    counts = {"sent": 0, "refused": 0, "sample": None, "reasons": {}}
    path_parameters = {"id": "acme"} if operation.path.startswith("/v1/tenants/{id}") else None
    strategy = operation.as_strategy(GenerationMode.POSITIVE, path_parameters=path_parameters)

    @given(strategy)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def send(case):
        headers = {"Authorization": f"Bearer {key}"}
        response = case.call(base_url=base_url, headers=headers, timeout=10)
        counts["sent"] += 1
        if refused_as_invalid(response):
            counts["refused"] += 1
            if counts["sample"] is None:
                counts["sample"] = response.text[:200]
            reason = reason_of(response)
            counts["reasons"][reason] = counts["reasons"].get(reason, 0) + 1

    send()
    return counts


def main():
    spec, base_url, key = sys.argv[1:4]
    examples = int(sys.argv[4]) if len(sys.argv) > 4 else 50
    schema = schemathesis.openapi.from_path(spec)
    worst = []
    print(f"{'operation':55} {'sent':>5} {'refused':>8}  share")
    for result in schema.get_all_operations():
        operation = result.ok()
        counts = measure(operation, base_url, key, examples)
        share = counts["refused"] / max(counts["sent"], 1)
        label = f"{operation.method.upper()} {operation.path}"
        print(f"{label:55} {counts['sent']:>5} {counts['refused']:>8}  {share:5.0%}")
        if share > MAX_REFUSED:
            worst.append((label, share, counts["sample"]))
        if os.environ.get("SPEC_ACCEPTANCE_VERBOSE"):
            for reason, n in sorted(counts["reasons"].items(), key=lambda kv: -kv[1])[:6]:
                print(f"    {n:>4} × {reason}")
    for label, share, sample in worst:
        print(f"spec-acceptance: {label} refuses {share:.0%} of what its schema allows, e.g. {sample}")
    sys.exit(1 if worst else 0)


if __name__ == "__main__":
    main()
