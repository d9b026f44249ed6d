#!/usr/bin/env python3
"""The billing portal in a real headless Chromium (Playwright), against a real `tally serve`.

Starts the SMTP server of tests/smtp/server.py and `tally serve` on a fresh SQLite data
directory sending mail to it, creates two tenants with usage through the API, closes the
period with a time-travel billing run (TALLY_ALLOW_TIME_TRAVEL=1), then in Chromium:

  1. signs in with the link read from the email the SMTP server received;
  2. checks the dashboard's numbers equal GET /v1/tenants/acme/usage/current;
  3. downloads the invoice PDF;
  4. sets a budget through the form (and reads it back through the API);
  5. fails to open the other tenant's invoice (404);
  5b. sees the usage page's chart, and downloads its CSV, whose sums are the table's totals;
  5c. opens "explain this line" from the invoice; 5d. sees every plan on the plans page;
  6. checks every page at 375 px has no horizontal scroll, no table column squeezed to a letter
     or two, no number broken across lines, and the invoice total in view;
  7. signs out, and the old session no longer opens the dashboard;
  8. posts the sign-in form without its CSRF token and is refused (403);
  9. signs in with `tally portal-link` (the link is the last word of its output).

Usage: portal_browser.py --tally target/debug/tally [--chromium /usr/bin/chromium]
Exits non-zero on the first failed check, printing the server log's tail.
"""
import argparse
import datetime
import decimal
import email
import email.policy
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from playwright.sync_api import sync_playwright

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LINK = re.compile(r"https?://\S+/portal/auth\?token=[A-Za-z0-9_-]+")


def as_displayed(currency, amount):
    """An API amount ("1234.50") as the portal shows it: code first, whole part grouped by
    thousands, the fraction as it is ("USD 1,234.50")."""
    sign, digits = ("-", amount[1:]) if amount.startswith("-") else ("", amount)
    whole, dot, fraction = digits.partition(".")
    return f"{currency} {sign}{int(whole):,}{dot}{fraction}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """tally serve + the SMTP server, in one temporary directory."""

    def __init__(self, tally):
        self.tally = os.path.abspath(tally)
        self.dir = tempfile.mkdtemp(prefix="tally-browser-")
        self.mail_dir = os.path.join(self.dir, "smtp")
        self.smtp = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "tests/smtp/server.py"), "--dir", self.mail_dir, "--port", "0"],
            stdout=subprocess.PIPE, text=True)
        smtp_port = int(self.smtp.stdout.readline().split()[1])
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, TALLY_DATA_DIR=os.path.join(self.dir, "data"),
                        TALLY_LISTEN=f"127.0.0.1:{self.port}", TALLY_PUBLIC_URL=self.base,
                        TALLY_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}", TALLY_MAIL_FROM="billing@tally.test",
                        TALLY_ALLOW_TIME_TRAVEL="1", TALLY_NOTIFY_POLL_EVERY="1s", TALLY_OVERDUE_REMINDER="0s", TALLY_PRICING_DIR=os.path.join(ROOT, "pricing"))
        self.env.pop("TALLY_DATABASE_URL", None)
        self.admin = self.cli("api-key", "create", "--role", "admin").strip()
        self.ingest = self.cli("api-key", "create", "--role", "ingest").strip()
        self.log = open(os.path.join(self.dir, "serve.log"), "w")
        self.server = subprocess.Popen([self.tally, "serve"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(200):
            try:
                urllib.request.urlopen(self.base + "/readyz", timeout=1)
                break
            except (urllib.error.URLError, ConnectionError):
                if self.server.poll() is not None:
                    raise SystemExit("tally serve exited:\n" + self.log_tail())
                time.sleep(0.1)

    def cli(self, *args):
        return subprocess.run([self.tally, *args], env=self.env, check=True, capture_output=True, text=True).stdout

    def api(self, method, path, body=None, key=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"Bearer {key or self.admin}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            return json.loads(text) if text else None

    def sign_in_link(self, address, seen, timeout=20):
        """The link of the first sign-in email to `address` not in `seen` (waits for the worker)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for name in sorted(os.listdir(self.mail_dir)) if os.path.isdir(self.mail_dir) else []:
                path = os.path.join(self.mail_dir, name)
                if not name.endswith(".eml") or path in seen:
                    continue
                with open(path, "rb") as f:
                    message = email.message_from_binary_file(f, policy=email.policy.default)
                if message["Subject"] == "Your Tally sign-in link" and address in message["To"]:
                    seen.add(path)
                    text = message.get_body(preferencelist=("plain",)).get_content()
                    return LINK.search(text).group(0)
            time.sleep(0.2)
        raise AssertionError(f"no sign-in email reached {address} within {timeout} s")

    def log_tail(self):
        with open(os.path.join(self.dir, "serve.log")) as f:
            return "".join(f.readlines()[-40:])

    def stop(self):
        for process in (getattr(self, "server", None), self.smtp):
            if process and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok  {what}", flush=True)


def billing_run(service, as_of):
    """A billing run as of `as_of` (a job over HTTP: polled until it ends); its report."""
    run = service.api("POST", "/v1/billing/run", {"as_of": as_of.isoformat().replace("+00:00", "Z")})
    deadline = time.time() + 30
    while run["status"] in ("queued", "running") and time.time() < deadline:
        time.sleep(0.1)
        run = service.api("GET", f"/v1/billing/runs/{run['run_id']}")
    check(run["status"] == "succeeded", f"the billing run ended: {run['status']}")
    return run["result"]


def seed(service):
    """Two tenants on payg with usage now; the current month closed by a time-travel run, and
    its invoices reminded of by a run 15 days later (due after 14, reminded at once)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    for tenant in ("acme", "globex"):
        service.api("POST", "/v1/tenants", {"id": tenant, "name": f"{tenant.title()} Corp", "plan": "payg",
                                             "billing_emails": [f"ap@{tenant}.test"]})
        stamp = (now - datetime.timedelta(minutes=2)).isoformat().replace("+00:00", "Z")
        records = [{"id": f"{tenant}-{i}", "tenant_id": tenant, "timestamp": stamp, "function": f"fn-{i}",
                    "region": "eu-west-1", "invocations": 1_500_000, "memory_gb_seconds": "250000"}
                   for i in range(2)]
        service.api("POST", "/v1/usage", {"records": records}, key=service.ingest)
    next_month = (now.replace(day=1) + datetime.timedelta(days=32)).replace(day=1, hour=2, minute=0, second=0, microsecond=0)
    billing_run(service, next_month)
    invoices = {t: service.api("GET", f"/v1/tenants/{t}/invoices")["data"] for t in ("acme", "globex")}
    check(all(invoices.values()), "a time-travel billing run closed the period into an invoice per tenant")
    reminded = billing_run(service, next_month + datetime.timedelta(days=15))["invoices_reminded"]
    numbers = sorted(i["number"] for i in reminded)
    check(numbers == sorted(v[0]["number"] for v in invoices.values()), f"both invoices are reminded of: {numbers}")
    return invoices


def format_decimal(value):
    """A sum as Rust's `Decimal::normalize` writes it: no exponent, no trailing zeros."""
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def no_horizontal_scroll(page, path):
    page.goto(path)
    width = page.evaluate("document.documentElement.scrollWidth")
    check(width <= 375, f"{path} at 375 px: scrollWidth {width} <= 375")


# Table cells holding 3+ characters narrower than 1.5 em (about three characters), and
# numbers (`.num`, amounts and quantities) laid out on more than one line.
SQUEEZED = """() => {
  const bad = [];
  for (const cell of document.querySelectorAll("td, th")) {
    const style = getComputedStyle(cell);
    const width = cell.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const text = cell.innerText.trim();
    if (text.length >= 3 && width < 1.5 * parseFloat(style.fontSize)) bad.push(`cell ${JSON.stringify(text)} ${width} px`);
  }
  for (const number of document.querySelectorAll(".num")) {
    const range = document.createRange();
    range.selectNodeContents(number);
    const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
    if (lines.size > 1) bad.push(`number ${JSON.stringify(number.innerText)} on ${lines.size} lines`);
  }
  return bad;
}"""


# The WCAG contrast ratio of an element's text against its own background.
CONTRAST = """e => {
  const rgb = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = c => {
    const [r, g, b] = rgb(c).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const style = getComputedStyle(e);
  const [a, b] = [lum(style.color), lum(style.backgroundColor)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


def readable_tables(page, path):
    bad = page.evaluate(SQUEEZED)
    check(not bad, f"{path}: no squeezed column or broken number {bad[:5]}")


def run(service, chromium):
    invoices = seed(service)
    acme_invoice, globex_invoice = invoices["acme"][0], invoices["globex"][0]
    seen = set()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"])
        context = browser.new_context(base_url=service.base, accept_downloads=True)
        page = context.new_page()

        # 1. Sign in through the email.
        page.goto("/portal/login")
        page.get_by_label("Email address").fill("ap@acme.test")
        page.get_by_role("button", name="Email me a sign-in link").click()
        page.get_by_role("heading", name="Check your email").wait_for()
        check("a sign-in link is on its way" in page.content(), "the sign-in form answers")
        link = service.sign_in_link("ap@acme.test", seen)
        page.goto(link)
        check(page.url == service.base + "/portal", f"the emailed link lands on the dashboard ({page.url})")
        check(page.get_by_role("heading", level=1).inner_text() == "Dashboard", "the dashboard heading")

        # 2. The dashboard's numbers are the API's.
        before = service.api("GET", "/v1/tenants/acme/usage/current")
        page.reload()
        after = service.api("GET", "/v1/tenants/acme/usage/current")
        shown = page.get_by_test_id("amount-so-far").inner_text()
        api = as_displayed(before["amount_so_far"]["currency"], before["amount_so_far"]["total"])
        check(shown == api, f"amount so far {shown!r} == usage/current {api!r}")
        projected = page.get_by_test_id("projected-total").inner_text()
        choices = {as_displayed(c["projection"]["currency"], c["projection"]["total"]) for c in (before, after)}
        check(projected in choices, f"projected total {projected!r} in {choices}")
        for meter in ("cpu_cycles", "memory_gb_seconds", "invocations"):
            exact = page.get_by_test_id(f"usage-{meter}").get_attribute("data-exact")
            check(exact == before["usage"][meter], f"{meter} {exact} == usage/current {before['usage'][meter]}")
        check(page.locator("svg.chart").count() == 3, "a daily chart per meter")

        # 3. The invoice, overdue, and its PDF.
        page.get_by_role("link", name="Invoices").click()
        badge = page.locator("tr", has_text=acme_invoice["number"]).locator(".status")
        check(badge.inner_text() == "overdue", f"the reminded invoice reads overdue ({badge.inner_text()!r})")
        ratio = badge.evaluate(CONTRAST)
        check(ratio >= 4.5, f"the overdue badge's text contrast {ratio:.1f}:1 >= 4.5:1 (WCAG AA)")
        page.get_by_role("link", name=acme_invoice["number"]).click()
        with page.expect_download() as download:
            page.get_by_role("link", name="Download PDF").click()
        pdf_path = download.value.path()
        with open(pdf_path, "rb") as f:
            check(f.read(5) == b"%PDF-", "the downloaded file is a PDF")
        check(download.value.suggested_filename == acme_invoice["number"] + ".pdf", "named by the invoice number")

        # 4. A budget through the form.
        page.get_by_role("link", name="Budgets").click()
        page.locator("#id_0").fill("monthly")
        page.locator("#limit_0").fill("250.00")
        page.locator("#thresholds_0").fill("80, 100")
        page.get_by_role("button", name="Save budgets").click()
        page.wait_for_url("**/portal/budgets?saved=1")
        check("Budgets saved" in page.content(), "the budget form saves")
        budgets = service.api("GET", "/v1/tenants/acme/budgets")["budgets"]
        check([(b["id"], b["limit"]) for b in budgets] == [("monthly", "250.00")], f"the API sees it: {budgets}")

        # 5. Another tenant's invoice.
        response = page.goto(f"/portal/invoices/{globex_invoice['id']}")
        check(response.status == 404, f"globex's invoice is a 404 for acme ({response.status})")
        response = page.goto(f"/portal/invoices/{globex_invoice['id']}/pdf")
        check(response.status == 404, "and so is its PDF")

        # 5b. The usage page: a chart, and a CSV of the same numbers as its table.
        page.goto("/portal")
        page.get_by_role("link", name="Usage", exact=True).click()
        check(page.locator("svg.chart rect.bar").count() > 0, "the usage page draws a chart")
        totals = [page.get_by_test_id(f"total-{i}").get_attribute("data-exact") for i in range(3)]
        with page.expect_download() as download:
            page.get_by_test_id("usage-csv").click()
        with open(download.value.path(), encoding="utf-8") as f:
            rows = [line.split(",") for line in f.read().splitlines()[1:]]
        sums = [format_decimal(sum(decimal.Decimal(r[i]) for r in rows)) for i in (3, 4, 5)]
        check(sums == totals, f"the CSV's sums {sums} are the table's totals {totals}")
        check(download.value.suggested_filename.endswith(".csv"), "the CSV is named .csv")

        # 5c. "Explain this line", reached from the invoice.
        page.goto(f"/portal/invoices/{acme_invoice['id']}")
        page.get_by_role("link", name=re.compile("^Explain line 1:")).click()
        page.get_by_test_id("arithmetic").wait_for()
        check(page.get_by_role("heading", level=1).inner_text().startswith("Line 1:"), "the explain page of line 1")
        explain_path = page.url[len(service.base):]

        # 5d. The plans page lists every shipped plan.
        page.get_by_role("link", name="Plans", exact=True).click()
        plans = page.locator("tr[data-plan]").evaluate_all("rows => rows.map(r => r.dataset.plan)")
        check(sorted(plans) == ["committed", "free", "payg"], f"the plans page lists the shipped plans: {plans}")

        # 6. 375 px wide.
        page.set_viewport_size({"width": 375, "height": 800})
        for path in ("/portal", "/portal/invoices", f"/portal/invoices/{acme_invoice['id']}", "/portal/budgets",
                     "/portal/usage", "/portal/usage?granularity=hour&group=region", explain_path, "/portal/plans"):
            no_horizontal_scroll(page, path)
            readable_tables(page, path)
        page.goto(f"/portal/invoices/{acme_invoice['id']}")
        right = page.get_by_test_id("invoice-total").evaluate("e => e.getBoundingClientRect().right")
        check(right <= 375, f"the invoice total is in view at 375 px without scrolling sideways (right edge {right})")
        page.set_viewport_size({"width": 1280, "height": 800})
        for path in ("/portal", f"/portal/invoices/{acme_invoice['id']}", "/portal/usage", explain_path):
            page.goto(path)
            readable_tables(page, f"{path} at 1280 px")
        page.set_viewport_size({"width": 375, "height": 800})

        # 7. Sign out.
        page.goto("/portal")
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/portal/login?signed_out=1")
        check(page.url.endswith("/portal/login?signed_out=1"), f"signed out ({page.url})")
        page.goto("/portal")
        check(page.url.endswith("/portal/login"), "the dashboard needs a new sign-in")
        no_horizontal_scroll(page, "/portal/login")

        # 8. The sign-in form without its CSRF token.
        page.goto("/portal/login")
        page.locator("input[name=csrf_token]").evaluate("e => e.remove()")
        page.get_by_label("Email address").fill("ap@acme.test")
        with page.expect_response(lambda r: r.url.endswith("/portal/login") and r.request.method == "POST") as posted:
            page.get_by_role("button", name="Email me a sign-in link").click()
        check(posted.value.status == 403, f"a form without its CSRF token is refused ({posted.value.status})")
        page.get_by_role("heading", name="Form refused").wait_for()
        check("Form refused" in page.content(), "with a page saying so")

        # 9. An operator's link from the CLI.
        words = service.cli("portal-link", "--tenant", "globex").split()
        fresh = browser.new_context(base_url=service.base).new_page()
        fresh.goto(words[-1])
        check(fresh.url == service.base + "/portal" and "Globex Corp" in fresh.content(),
              "`tally portal-link` prints a working link as its last word")
        browser.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tally", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    service = Service(args.tally)
    started = time.time()
    try:
        run(service, args.chromium)
    except Exception:
        print("browser tests FAILED; last lines of the server log:\n" + service.log_tail(), file=sys.stderr)
        raise
    finally:
        service.stop()
    print(f"browser tests passed in {time.time() - started:.1f} s")


if __name__ == "__main__":
    main()
