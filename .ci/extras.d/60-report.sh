#!/usr/bin/env bash
# Extra `report` (aibench/report/: the sweep comparison report) for `pytest -m extra`: matplotlib for
# the PNGs (pip install -e '.[report]'; Pillow comes with it), and for the browser test
# (tests/report/test_report_browser.py) a real headless Chromium with its driver from the
# distribution's packages (Debian: chromium, chromium-driver). The test speaks W3C WebDriver to
# chromedriver over HTTP itself: selenium 4.52 (the index's only release) requires a certifi newer
# than any the index holds and does not install. Only what is missing is installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ "${#need[@]}" -gt 0 ]; then
  echo "-- apt-get install ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ -d .venv ] && [ -z "${VIRTUAL_ENV:-}" ]; then . .venv/bin/activate; fi
echo "-- pip install -e '.[report]'"
pip install -q -e '.[report]'
chromium --version 2>/dev/null
chromedriver --version
python -c 'import matplotlib, PIL; print("-- matplotlib", matplotlib.__version__, "pillow", PIL.__version__)'
