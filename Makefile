# Vigil — see README.md. `make test` is what CI runs.
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never
# The e2e tests run against kube-apiserver + kube-controller-manager + etcd (+ kubectl) in the envtest
# layout, which e2e/install-tools.sh fills. e2e/check-tools.sh decides before the run which suites this
# machine can run: outside CI a suite whose tools are missing is left out (nextest counts its tests as
# skipped) with one line saying so; under CI=true that is a failure.
VIGIL_ENVTEST_DIR ?= /opt/vigil-envtest
KUBEBUILDER_ASSETS ?= $(VIGIL_ENVTEST_DIR)/bin
export KUBEBUILDER_ASSETS

.PHONY: all test fmt-check clippy unit e2e demo crds docs bench bench-operator golden release image image-check pin-image

all: test

## The whole gate: formatting, lints with warnings denied, every test.
test: fmt-check clippy unit

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# Doc tests first: nextest's summary is the run's closing line.
unit:
	$(CARGO) test --workspace --doc --locked
	@filter=$$(bash e2e/check-tools.sh) && $(CARGO) nextest run --workspace --locked --no-fail-fast -E "$$filter"

## The real-API-server suite alone (also part of `unit`).
e2e:
	@bash e2e/check-tools.sh >/dev/null
	$(CARGO) nextest run -p vigil-e2e --locked --no-fail-fast --no-capture

## The main job without a cluster: scan the bundled examples.
demo:
	$(CARGO) run --release --locked -p vigil -- scan examples/

## Regenerate the CRD YAML under crds/ from the Rust types.
crds:
	VIGIL_UPDATE_CRDS=1 $(CARGO) test -p vigil-crds --test drift --locked

## Regenerate docs/checks.md from the check table.
docs:
	VIGIL_UPDATE_DOCS=1 $(CARGO) test -p vigil-engine --test docs --locked

## Re-pin the golden JSON of `vigil scan examples/`.
golden:
	VIGIL_UPDATE_GOLDEN=1 $(CARGO) test -p vigil --test cli --locked

## The binary to ship: $(DIST)/vigil, stripped, and $(DIST)/vigil.debug, its symbols and line tables
## (compressed), which gdb, perf and addr2line find through the binary's .gnu_debuglink. Built with the
## `profiling` profile: release code with line tables, so the two files describe one build. The build
## paths are remapped (the checkout to /build/vigil, cargo's home to /cargo), so the same source and
## toolchain give the same bytes from any checkout: the image (`make image`) is reproducible.
DIST ?= dist
OBJCOPY ?= objcopy
CARGO_HOME_DIR := $(or $(CARGO_HOME),$(HOME)/.cargo)
RELEASE_RUSTFLAGS ?= --remap-path-prefix=$(CURDIR)=/build/vigil --remap-path-prefix=$(CARGO_HOME_DIR)=/cargo
release:
	RUSTFLAGS="$(RELEASE_RUSTFLAGS)" $(CARGO) build --profile profiling --locked -p vigil
	mkdir -p $(DIST)
	$(OBJCOPY) --only-keep-debug --compress-debug-sections=zlib $${CARGO_TARGET_DIR:-target}/profiling/vigil $(DIST)/vigil.debug
	$(OBJCOPY) --strip-all --add-gnu-debuglink=$(DIST)/vigil.debug $${CARGO_TARGET_DIR:-target}/profiling/vigil $(DIST)/vigil
	@ls -l $(DIST)/vigil $(DIST)/vigil.debug

## The container image, without a container daemon and reproducibly (image/build.py): $(DIST)/vigil on
## the Debian packages locked in image/debian.lock, as an OCI layout in $(DIST)/image and one tar,
## $(DIST)/vigil-image.tar (`docker load -i`, `podman load -i`, `skopeo copy oci-archive:...`). It checks
## every digest and, as root, runs `/vigil --version` in the image as user 65532.
IMAGE_TAG ?= 0.1.0
DEBS ?= $(DIST)/debs
IMAGE_BUILD = python3 image/build.py
image: release
	$(IMAGE_BUILD) fetch --lock image/debian.lock --debs $(DEBS)
	$(IMAGE_BUILD) build --lock image/debian.lock --debs $(DEBS) --binary $(DIST)/vigil --out $(DIST)/image --tar $(DIST)/vigil-image.tar --tag $(IMAGE_TAG)
	$(IMAGE_BUILD) verify --image $(DIST)/image

## Does this tree build the image config/manager pins? (Exit 2 when not: re-pin at a release.)
image-check: image
	$(IMAGE_BUILD) pin --image $(DIST)/image --kustomization config/manager/kustomization.yaml --check

## Pin config/manager/kustomization.yaml to the image just built (the release step).
pin-image: image
	$(IMAGE_BUILD) pin --image $(DIST)/image --kustomization config/manager/kustomization.yaml

## Benchmarks; figures go to docs/performance.md.
bench:
	$(CARGO) build --release --locked -p vigil -p vigil-bench
	$${CARGO_TARGET_DIR:-target}/release/vigil-bench

## `vigil operator` against a real API server (KUBEBUILDER_ASSETS): memory per watched object, writes in a
## steady full pass, report size, change-to-report latency. Figures go to docs/performance.md ("Operator").
## BENCH_OPERATOR_ARGS: e.g. `--namespaces 200 --pods-per-namespace 10 --changes 100`.
BENCH_OPERATOR_ARGS ?=
bench-operator:
	@test -x "$(KUBEBUILDER_ASSETS)/kube-apiserver" || { echo "bench-operator needs kube-apiserver and etcd in KUBEBUILDER_ASSETS=$(KUBEBUILDER_ASSETS) (bash e2e/install-tools.sh)"; exit 2; }
	$(CARGO) build --release --locked -p vigil -p vigil-bench
	VIGIL_BIN=$${CARGO_TARGET_DIR:-target}/release/vigil $${CARGO_TARGET_DIR:-target}/release/vigil-bench operator $(BENCH_OPERATOR_ARGS)
