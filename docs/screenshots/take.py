#!/usr/bin/env python3
"""Screenshots of every billing-portal page, for the README: `tally demo` on a fresh data
directory, `tally serve` over it, then Playwright driving Debian's headless Chromium through
the demo's printed sign-in link.

Not run by CI (pictures change with every style tweak; the browser tests check behaviour).
Run it by hand after changing a page, and commit the PNGs it writes next to it:

    cargo build --bin tally
    python3 docs/screenshots/take.py --tally target/debug/tally

Needs `pip install playwright` and /usr/bin/chromium (as .ci/browser.sh does). Pages are
1200 px wide at device scale 1 (plus the dashboard at 375 px), so the PNGs stay small.
"""
import argparse
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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LINK = re.compile(r"^(\S+)\t(https?://\S+/portal/auth\?token=[A-Za-z0-9_-]+)$", re.M)
# The tenant shown: the pay-as-you-go one, whose bill has the most to explain.
TENANT = "demo-acme"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(tally, env, log):
    """`tally serve`, once it answers /readyz."""
    server = subprocess.Popen([tally, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = "http://" + env["TALLY_LISTEN"]
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/readyz", timeout=1)
            return server
        except (urllib.error.URLError, ConnectionError):
            if server.poll() is not None:
                raise SystemExit("tally serve exited; see " + log.name)
            time.sleep(0.1)
    raise SystemExit("tally serve did not become ready")


def shoot(page, name, full_page=True):
    path = os.path.join(HERE, name + ".png")
    page.screenshot(path=path, full_page=full_page, animations="disabled")
    print(f"{name}.png\t{os.path.getsize(path) // 1024} KiB")


def take(base, link, chromium):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"])
        context = browser.new_context(base_url=base, viewport={"width": 1200, "height": 800}, device_scale_factor=1)
        page = context.new_page()
        page.goto("/portal/login")
        shoot(page, "login", full_page=False)
        page.goto(link)
        shoot(page, "dashboard")
        page.goto("/portal/usage?group=function&meter=memory_gb_seconds")
        shoot(page, "usage")
        page.goto("/portal/invoices")
        shoot(page, "invoices", full_page=False)
        page.locator("table a").first.click()
        shoot(page, "invoice")
        page.get_by_role("link", name=re.compile("^Explain line .*Memory", re.I)).first.click()
        shoot(page, "explain")
        page.goto("/portal/plans")
        shoot(page, "plans")
        page.goto("/portal/budgets")
        shoot(page, "budgets", full_page=False)
        page.set_viewport_size({"width": 375, "height": 812})
        page.goto("/portal")
        shoot(page, "dashboard-375", full_page=False)
        browser.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tally", default=os.path.join(ROOT, "target/debug/tally"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    tally = os.path.abspath(args.tally)
    workdir = tempfile.mkdtemp(prefix="tally-screenshots-")
    listen = f"127.0.0.1:{free_port()}"
    env = dict(os.environ, TALLY_DATA_DIR=os.path.join(workdir, "data"), TALLY_LISTEN=listen,
               TALLY_PUBLIC_URL="http://" + listen, TALLY_PRICING_DIR=os.path.join(ROOT, "pricing"))
    env.pop("TALLY_DATABASE_URL", None)
    server = None
    try:
        demo = subprocess.run([tally, "demo"], env=env, check=True, capture_output=True, text=True).stdout
        links = dict(LINK.findall(demo))
        if TENANT not in links:
            raise SystemExit(f"`tally demo` printed no link for {TENANT}:\n{demo}")
        with open(os.path.join(workdir, "serve.log"), "w") as log:
            server = serve(tally, env, log)
            take("http://" + listen, links[TENANT], args.chromium)
    finally:
        if server and server.poll() is None:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
