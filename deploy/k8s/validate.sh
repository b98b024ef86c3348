#!/usr/bin/env bash
# Offline checks of the manifests; needs no cluster.
#   bash deploy/k8s/validate.sh
# Uses python3 with PyYAML, kubectl (for its built-in kustomize) or kustomize, and promtool
# (Debian: apt-get install prometheus). A missing tool is reported as SKIP, not as a pass.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
failed=0
pass() { echo "PASS  $*"; }
fail() { echo "FAIL  $*"; failed=1; }
skip() { echo "SKIP  $*"; }

# 1. Every YAML file parses.
while IFS= read -r -d '' f; do
  if python3 -c 'import yaml,sys; list(yaml.safe_load_all(open(sys.argv[1])))' "$f"; then
    pass "yaml parses: ${f#./}"
  else
    fail "yaml parses: ${f#./}"
  fi
done < <(find . -type f \( -name '*.yaml' -o -name '*.yml' \) -print0 | sort -z)

# 2. The base and both overlays build.
if command -v kustomize >/dev/null; then
  build() { kustomize build "$1"; }
elif command -v kubectl >/dev/null; then
  build() { kubectl kustomize "$1"; }
else
  build() { return 127; }
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for dir in base overlays/dev overlays/prod; do
  name="${dir//\//-}"
  build "$dir" >"$out/$name.yaml" 2>"$out/$name.err"
  rc=$?
  if [ "$rc" -eq 127 ]; then
    skip "kustomize build $dir (no kustomize or kubectl)"
  elif [ "$rc" -eq 0 ]; then
    pass "kustomize build $dir ($(grep -c '^kind:' "$out/$name.yaml") objects)"
  else
    fail "kustomize build $dir: $(cat "$out/$name.err")"
  fi
done

# 3. The PrometheusRule carries exactly the groups of alerts.rules.yml.
if python3 - <<'EOF'
import sys, yaml
rules = yaml.safe_load(open("base/alerts.rules.yml"))
crd = yaml.safe_load(open("base/prometheusrule.yaml"))
sys.exit(0 if rules["groups"] == crd["spec"]["groups"] else 1)
EOF
then
  pass "base/prometheusrule.yaml spec.groups == base/alerts.rules.yml groups"
else
  fail "base/prometheusrule.yaml and base/alerts.rules.yml differ"
fi

# 4. promtool: the rules are valid and behave as their unit tests say.
if command -v promtool >/dev/null; then
  if promtool check rules base/alerts.rules.yml; then
    pass "promtool check rules base/alerts.rules.yml"
  else
    fail "promtool check rules base/alerts.rules.yml"
  fi
  if (cd base && promtool test rules alerts.test.yml); then
    pass "promtool test rules base/alerts.test.yml"
  else
    fail "promtool test rules base/alerts.test.yml"
  fi
else
  skip "promtool (apt-get install prometheus)"
fi

exit "$failed"
