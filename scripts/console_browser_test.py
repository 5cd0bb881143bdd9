#!/usr/bin/env python3
"""The live console in a real browser (Debian's chromium + chromedriver, driven by Selenium).

Run by scripts/console-check.sh against a running `almanac dev`: opens node 1's console, waits for
the cluster to show healthy, makes some traffic (heat), merges shard 3 into 2 and splits it back
with `almanac ctl reshard` (the shards table follows the segment counts), kills node 3 with `almanac ctl node kill 3`,
and asserts what the page then shows (node 3 and zone-c down, every shard led by a live node), with
screenshots before and after. Prints "N passed, M failed"; exits 1 on a failure.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

parser = argparse.ArgumentParser()
parser.add_argument("--url", required=True)
parser.add_argument("--almanac", required=True)
parser.add_argument("--data-dir", required=True)
parser.add_argument("--endpoints", required=True)
parser.add_argument("--ca", default="")
parser.add_argument("--token", default="")
parser.add_argument("--screenshots", default="docs")
args = parser.parse_args()

passed, failed = 0, 0


def check(name, condition, detail=""):
    global passed, failed
    if condition:
        passed += 1
        print(f"  ok    {name}")
    else:
        failed += 1
        print(f"  FAIL  {name} {detail}")


# The page re-renders its tables on every live update, so an element found by one WebDriver call may be
# gone by the next. Each read takes the table whole in one script, which the page cannot interleave.
READ_TABLE = """
return Array.from(document.querySelectorAll('#' + arguments[0] + ' tbody tr')).map(function (row) {
  var cell = row.querySelector('td.health');
  return {data: Object.assign({}, row.dataset), health: cell ? cell.innerText : null};
});
"""


def rows(driver, table):
    return driver.execute_script(READ_TABLE, table)


READ_CELLS = """
return Array.from(document.querySelectorAll('#' + arguments[0] + ' tbody tr')).map(function (row) {
  return Array.from(row.querySelectorAll('td')).map(function (cell) { return cell.innerText; });
});
"""


def cells(driver, table):
    return driver.execute_script(READ_CELLS, table)


def health(driver, table, key, value):
    for row in rows(driver, table):
        if row["data"].get(key) == str(value):
            return row["health"]
    return None


def leader(row):
    return row["data"].get("leader")


def wait_for(description, predicate, driver, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if predicate():
                return True
        except Exception:  # the page re-renders between finding and reading an element
            pass
        time.sleep(0.25)
    print(f"  timed out waiting for: {description}")
    print(driver.find_element(By.TAG_NAME, "body").text[:3000])
    return False


def ctl(*arguments, admin=False):
    env = dict(os.environ, ALMANAC_ENDPOINTS=args.endpoints, ALMANAC_CA=args.ca, ALMANAC_TOKEN=args.token)
    if admin:  # ctl reshard signs a short-lived admin token with the cluster's key (what dev prints)
        env.pop("ALMANAC_TOKEN", None)
        env["ALMANAC_TOKEN_KEY"] = os.path.join(args.data_dir, "tls", "token-key")
    return subprocess.run([args.almanac, "ctl", *arguments], env=env, capture_output=True, text=True, timeout=60)


options = Options()
for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1500,1100"):
    options.add_argument(flag)
options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download a browser or driver
driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
try:
    driver.get(args.url)
    check("page title", driver.title == "Almanac console", driver.title)
    healthy = wait_for("three nodes alive, three zones healthy, every shard led", lambda: (
        len(rows(driver, "nodes")) == 3
        and all((health(driver, "nodes", "node", n) or "").startswith("alive") for n in (1, 2, 3))
        and [health(driver, "zones", "zone", z) for z in ("zone-a", "zone-b", "zone-c")] == ["healthy"] * 3
        and len(rows(driver, "shards")) > 0
        and all(leader(r) not in ("0", None) for r in rows(driver, "shards"))), driver)
    check("healthy cluster shown", healthy)
    check("live updates connected", driver.find_element(By.ID, "connection").text == "live",
          driver.find_element(By.ID, "connection").text)
    check("controller pane names the lease holder", wait_for("a node holds the controller lease",
          lambda: "holds the controller lease" in driver.find_element(By.ID, "controller").text, driver),
          driver.find_element(By.ID, "controller").text)
    check("moves pane: none in flight", driver.find_element(By.ID, "moves").text.strip() == "none", driver.find_element(By.ID, "moves").text)

    # Traffic, so that the heat pane has something to show and the forecasters history to learn.
    made = ctl("mkdir", "-p", "/console-demo")
    check("ctl mkdir (TLS, token)", made.returncode == 0, made.stderr)
    for i in range(20):
        ctl("touch", f"/console-demo/file-{i}")
    check("heat per segment shown", wait_for("heat rows", lambda: len(rows(driver, "heat")) > 0, driver))
    # Forecast against actual: once the nodes hold a season and a bucket of one-second buckets.
    forecast_deadline = time.time() + 40
    extra = 0
    while time.time() < forecast_deadline and not rows(driver, "forecast"):
        ctl("touch", f"/console-demo/more-{extra}")
        extra += 1
    forecast_rows = cells(driver, "forecast")
    check("forecast vs actual rows shown", len(forecast_rows) > 0, driver.find_element(By.ID, "forecast").text)
    # segment, shard, forecast, actual, next bucket: numbers, and the hottest segment had requests.
    def numeric(row):
        try:
            return len(row) == 5 and all(float(value) >= 0 for value in row)
        except ValueError:
            return False
    check("forecast rows are segment, shard, forecast, actual, next", all(numeric(r) for r in forecast_rows), str(forecast_rows))
    check("the hottest segment's actual load is counted", bool(forecast_rows) and float(forecast_rows[0][3]) > 0, str(forecast_rows))
    driver.save_screenshot(os.path.join(args.screenshots, "console.png"))

    # A shard moves: merge shard 3 into 2, then split it back; the shards table follows the owners.
    def segments(shard):
        for r in rows(driver, "shards"):
            if r["data"].get("shard") == str(shard):
                return r["data"].get("segments")
        return None
    before = {shard: segments(shard) for shard in (2, 3)}
    check("segments per shard shown", before == {2: "1024", 3: "1024"}, str(before))
    merged = ctl("reshard", "merge", "3", "--into", "2", admin=True)
    check("ctl reshard merge 3 --into 2", merged.returncode == 0 and ": moved;" in merged.stdout, merged.stdout + merged.stderr)
    check("shards table after the merge", wait_for("shard 2 with 2048 segments, shard 3 with none",
          lambda: segments(2) == "2048" and segments(3) == "0", driver))
    driver.save_screenshot(os.path.join(args.screenshots, "console-after-merge.png"))
    split = ctl("reshard", "split", "2", "--into", "3", admin=True)
    check("ctl reshard split 2 --into 3", split.returncode == 0 and ": moved;" in split.stdout, split.stdout + split.stderr)
    check("shards table after the split", wait_for("shards 2 and 3 with 1024 segments each",
          lambda: segments(2) == "1024" and segments(3) == "1024", driver))
    listed = ctl("ls", "/console-demo")
    check("files still listed after the moves", listed.returncode == 0 and "file-19" in listed.stdout, listed.stdout + listed.stderr)

    killed = ctl("node", "kill", "3", "--data-dir", args.data_dir)
    check("ctl node kill 3", killed.returncode == 0, killed.stdout + killed.stderr)
    down = wait_for("node 3 down, zone-c down, no shard led by node 3", lambda: (
        health(driver, "nodes", "node", 3) == "down"
        and health(driver, "zones", "zone", "zone-c") == "down"
        and all(leader(r) not in ("0", "3", None) for r in rows(driver, "shards"))), driver, timeout=40)
    check("node 3 shown down", health(driver, "nodes", "node", 3) == "down", str(health(driver, "nodes", "node", 3)))
    check("zone-c shown down", health(driver, "zones", "zone", "zone-c") == "down", str(health(driver, "zones", "zone", "zone-c")))
    check("every shard led by a live node", down)
    check("nodes 1 and 2 still alive", all((health(driver, "nodes", "node", n) or "").startswith("alive") for n in (1, 2)))
    driver.save_screenshot(os.path.join(args.screenshots, "console-node-killed.png"))
finally:
    driver.quit()

print(f"console browser test: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
