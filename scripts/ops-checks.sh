#!/usr/bin/env bash
# Operations checks (docs/operations.md): the Prometheus alert rules (promtool check + unit tests),
# the Kubernetes manifests (kubernetes-validate, yamllint), the client library sample against a
# running `almanac dev` (scripts/client-sample.sh) and the live console in chromium
# (scripts/console-check.sh, which installs chromium, chromium-driver and selenium). Installs promtool (Debian's `prometheus`),
# kubernetes-validate and yamllint (PyPI) when missing. Run from CI after the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
if ! command -v promtool >/dev/null; then
  echo "== installing promtool (Debian package prometheus)"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
# Run as python3 modules: the console scripts may not be on PATH (pyenv shims, ~/.local/bin).
if ! python3 -c 'import kubernetes_validate, yamllint' 2>/dev/null; then
  echo "== installing kubernetes-validate and yamllint (pip)"
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore kubernetes-validate yamllint
fi

echo "== promtool check rules"
promtool check rules deploy/prometheus/almanac-rules.yml
echo "== promtool test rules"
(cd deploy/prometheus && promtool test rules almanac-rules.test.yml)

echo "== kubernetes-validate"
python3 -m kubernetes_validate --strict --quiet deploy/kubernetes/*.yaml
echo "== yamllint"
python3 -m yamllint --strict -c .yamllint.yml deploy/

# The node configs in the ConfigMap must be valid JSON with one member per zone and matching ids.
python3 - <<'PY'
import json, yaml
data = yaml.safe_load(open("deploy/kubernetes/configmap.yaml"))["data"]
configs = {name: json.loads(text) for name, text in data.items()}
members = [c["members"] for c in configs.values()]
assert all(m == members[0] for m in members), "every node must list the same members"
assert len({c["shards"] for c in configs.values()}) == 1, "every node must have the same shard count"
for name, config in configs.items():
    assert name == config["zone"] + ".json", f"{name} holds zone {config['zone']}"
    assert any(m["id"] == config["id"] and m["zone"] == config["zone"] for m in config["members"]), name
print(f"ConfigMap: {len(configs)} node configs consistent")
PY

echo "== client library sample against almanac dev"
bash scripts/client-sample.sh

echo "== live console in a real browser (chromium, Selenium)"
# Screenshots of CI runs go to a scratch directory; docs/console*.png are committed from a run by hand.
CONSOLE_SCREENSHOTS="$(mktemp -d)" bash scripts/console-check.sh
echo "== ops checks passed"
