#!/usr/bin/env bash
# Which test suites this machine can run, before `make test` runs them.
#
# Prints on stdout the nextest filterset of the tests to run (every test, less the suites whose tools
# are missing) and, on stderr, one line naming each suite left out, what it lacks and how to install it.
# Under CI=true a missing tool is a failure (exit 1): CI must never pass a test that did not run.
#
# Suites and their tools:
#   e2e      (package vigil-e2e):    kube-apiserver, kube-controller-manager, etcd, kubectl in
#                                    $KUBEBUILDER_ASSETS (bash e2e/install-tools.sh), unless
#                                    VIGIL_E2E_CLUSTER=1 names an existing cluster
#   browser  (vigil's tests/browser): chromium on PATH or VIGIL_CHROMIUM (apt-get install chromium)
set -uo pipefail

assets="${KUBEBUILDER_ASSETS:-/opt/vigil-envtest/bin}"
filter="all()"
skipped=()

missing=()
if [[ "${VIGIL_E2E_CLUSTER:-}" != 1 ]]; then
  for tool in kube-apiserver kube-controller-manager etcd kubectl; do
    [[ -x "$assets/$tool" ]] || missing+=("$tool")
  done
fi
if ((${#missing[@]})); then
  # The kustomize rendering test of config/ needs the envtest kubectl too. (`& test(/./)`: a filter on
  # the package alone would drop the binary from the list, and nextest would not count its tests as skipped.)
  filter="$filter - (package(vigil-e2e) & test(/./)) - (binary_id(vigil::config) & test(=default_renders_crds_rbac_and_the_deployment))"
  skipped+=("e2e suite (${missing[*]} missing from $assets: bash e2e/install-tools.sh)")
fi

if [[ -z "${VIGIL_CHROMIUM:-}" ]] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null \
  && ! command -v google-chrome >/dev/null && ! command -v google-chrome-stable >/dev/null; then
  filter="$filter - (binary_id(vigil::browser) & test(/./))"
  skipped+=("browser tests (no chromium on PATH: apt-get install chromium)")
fi

if ((${#skipped[@]})); then
  line=$(IFS=';'; echo "${skipped[*]}")
  line=${line//;/; }
  if [[ "${CI:-}" == true ]]; then
    echo "make test: cannot run under CI=true: $line (.ci/run installs these)" >&2
    exit 1
  fi
  echo "make test: SKIPPED, not run on this machine: $line" >&2
fi
echo "$filter"
