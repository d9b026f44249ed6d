#!/usr/bin/env bash
# The billing portal in a real headless Chromium: builds `tally`, then runs
# tests/browser/portal_browser.py (Playwright, driving Debian's /usr/bin/chromium) against a
# real `tally serve` on SQLite that sends its email to tests/smtp/server.py.
# Needs: python3 with `playwright` and `aiosmtpd`, and /usr/bin/chromium (.ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --quiet --bin tally
timeout 180 python3 tests/browser/portal_browser.py --tally "$target/debug/tally" --chromium "${CHROMIUM:-/usr/bin/chromium}"
