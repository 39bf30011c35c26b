# The single way to build, test, lint and run sandbox-bench. CI calls these same recipes.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Build the pinned Kubernetes, etcd and kwok binaries into the version-keyed cache (once), and
# install from Debian what the tests need and lack (runc, CNI plugins, iptables, Chromium).
setup:
    @ci/setup >/dev/null && echo "binaries: $(ci/setup)"

# Make this machine able to run kind with no registry (as root): Debian's docker.io started
# without touching the host's firewall, kind and a node image for the pinned Kubernetes built
# from the package registries (cached by version), loaded into Docker. Prints where `kind` and
# `kubectl` are and the image's name. `just setup-kind stop` deletes the kind clusters and stops
# the dockerd it started.
setup-kind *args:
    @ci/setup-kind {{args}}

# Print the directory holding the pinned binaries (after `just setup`).
bin-dir:
    @ci/setup

# Build what the local cluster's real node runs from this workspace into target/node: the
# static `sandbox-pause` and `sandbox-probe` (the images' only files) and `sandbox-netpol`.
node-bins profile="release":
    #!/usr/bin/env bash
    set -euo pipefail
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static" \
        cargo build --quiet --locked --release -p sandbox-probe --target x86_64-unknown-linux-gnu
    if [[ "{{profile}}" == release ]]; then flag=--release; dir=release; else flag=; dir=debug; fi
    cargo build --quiet --locked $flag -p sandbox-netpol
    mkdir -p target/node
    cp target/x86_64-unknown-linux-gnu/release/sandbox-{probe,pause} "target/$dir/sandbox-netpol" target/node/

# Lint, then run every unit and integration test against real local clusters and one real
# kind cluster (Docker and kind from `just setup-kind`, stopped again afterwards if it started
# them, and the host's firewall, links, routes and mounts checked to be as before), the
# conformance suite against the reference controller and the pinned upstream build
# (`ci/setup-upstream`, cached); ends with a one-line total over all test binaries.
test: setup lint (node-bins "debug")
    #!/usr/bin/env bash
    set -uo pipefail
    log="$(mktemp)"; before="$(mktemp)"; after="$(mktemp)"
    docker_was_up=false
    if timeout 10 docker version >/dev/null 2>&1; then docker_was_up=true; else ci/host-state >"$before"; fi
    kind_bin="$(ci/setup-kind)" || exit 3
    upstream="$(ci/setup-upstream)" || exit 3
    PATH="$kind_bin:$PATH" SANDBOX_BENCH_KIND_TESTS=1 SANDBOX_BENCH_BIN_DIR="$(ci/setup)" \
        SANDBOX_BENCH_UPSTREAM_DIR="$upstream" \
        SANDBOX_BENCH_NODE_BIN_DIR="$PWD/target/node" cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    awk '/^test result:/ { p += $4; f += $6 } END { printf "summary: %d passed, %d failed\n", p, f }' "$log"
    if ! $docker_was_up; then
        ci/setup-kind stop
        ci/host-state >"$after"
        if ! diff -u "$before" "$after"; then
            echo "the host is not as it was before Docker and kind ran (diff above)" >&2
            status=1
        fi
    fi
    rm -f "$log" "$before" "$after"
    exit "$status"

# Formatting and clippy, warnings as errors.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --locked -- -D warnings

# Regenerate the committed CRD YAML (api/crds/agent-sandbox.yaml).
crds:
    cargo run --quiet --locked -p sandbox-api --bin gen-crds

# Start a local cluster in the background: `just up`, `just up name=dev nodes=10`.
up name="local" nodes="1": setup
    SANDBOX_BENCH_BIN_DIR="$(ci/setup)" cargo run --quiet --locked --release -p sandbox-bench -- cluster up --name {{name}} --nodes {{nodes}}

# The same with a real node beside the kwok nodes (runc and gVisor pods; needs root).
up-real name="local" nodes="1": setup node-bins
    SANDBOX_BENCH_BIN_DIR="$(ci/setup)" SANDBOX_BENCH_NODE_BIN_DIR="$PWD/target/node" cargo run --quiet --locked --release -p sandbox-bench -- cluster up --name {{name}} --nodes {{nodes}} --real-node

# Stop a local cluster started with `just up`.
down name="local":
    cargo run --quiet --locked --release -p sandbox-bench -- cluster down --name {{name}}

# Show a local cluster's components and API server.
status name="local":
    cargo run --quiet --locked --release -p sandbox-bench -- cluster status --name {{name}}

# Examples: `just conformance upstream`, `just conformance reference --filter claim-`; a
# `--kubeconfig` argument uses that cluster instead of a local one. Writes the summary and JUnit
# XML to runs/conformance-<controller>/.
# Check a controller (reference, upstream or external) against the spec: the conformance suite.
conformance controller="reference" *args: setup
    cargo build --quiet --locked --release -p sandbox-controller -p sandbox-bench
    if [[ "{{controller}}" == upstream ]]; then ci/setup-upstream >/dev/null; fi
    SANDBOX_BENCH_BIN_DIR="$(ci/setup)" cargo run --quiet --locked --release -p sandbox-bench -- conformance --controller {{controller}} --dir runs/conformance-{{controller}} {{args}}

# The main command: run a benchmark scenario and print the summary and the report's path.
# Defaults: scenarios/default.yaml, a local cluster, the reference controller. Examples:
# `just bench`, `just bench scenario=scenarios/burst.yaml controller=upstream`,
# `just bench kubeconfig=~/.kube/config`, `just bench scenario=scenarios/smoke.yaml --seed 7`.
# Exit codes: 0 SLOs met, 1 SLO breach, invariant violated or leak, 2 bad scenario or flags,
# 3 infrastructure, 4 isolation check failed.
bench *args: setup node-bins
    #!/usr/bin/env bash
    set -euo pipefail
    scenario=scenarios/default.yaml; flags=()
    for arg in {{args}}; do
        case "$arg" in
            scenario=*) scenario="${arg#scenario=}" ;;
            controller=*) flags+=(--controller "${arg#controller=}") ;;
            kubeconfig=*) flags+=(--kubeconfig "${arg#kubeconfig=}") ;;
            *) flags+=("$arg") ;;
        esac
    done
    cargo build --quiet --locked --release -p sandbox-controller -p sandbox-bench
    if [[ " ${flags[*]-} " == *" --controller upstream "* ]]; then ci/setup-upstream >/dev/null; fi
    # A kind scenario on a machine without kind or a Docker daemon: the offline set-up.
    if [[ " ${flags[*]-} " != *" --kubeconfig "* ]] && grep -Eq '^\s*provider:\s*kind\b' "$scenario" \
        && ! { command -v kind && docker version; } >/dev/null 2>&1; then
        PATH="$(ci/setup-kind):$PATH"
    fi
    SANDBOX_BENCH_BIN_DIR="$(ci/setup)" SANDBOX_BENCH_NODE_BIN_DIR="$PWD/target/node" exec target/release/sandbox-bench bench "$scenario" ${flags[@]+"${flags[@]}"}

# `just knee`, `just knee controllers=reference,floor`,
# `just knee scenario=scenarios/knee-smoke.yaml --require reference.knee_1s>=10`;
# output in runs/knee/<scenario>-<UTC time>/ (knee.json, knee.md, knee.html, one run per controller).
# Where each controller gives way (warm claims, stepped rate): knee_100ms and knee_1s.
knee *args: setup node-bins
    #!/usr/bin/env bash
    set -euo pipefail
    scenario=scenarios/knee.yaml; flags=()
    for arg in {{args}}; do
        case "$arg" in
            scenario=*) scenario="${arg#scenario=}" ;;
            controllers=*) flags+=(--controllers "${arg#controllers=}") ;;
            *) flags+=("$arg") ;;
        esac
    done
    cargo build --quiet --locked --release -p sandbox-controller -p sandbox-bench
    if [[ " ${flags[*]-} " != *" --controllers "* || " ${flags[*]-} " == *upstream* ]]; then ci/setup-upstream >/dev/null; fi
    SANDBOX_BENCH_BIN_DIR="$(ci/setup)" SANDBOX_BENCH_NODE_BIN_DIR="$PWD/target/node" exec target/release/sandbox-bench knee "$scenario" ${flags[@]+"${flags[@]}"}

# Compare runs: `just compare runs/bench/a runs/bench/b`; exit 1 on a regression.
compare baseline +candidates:
    cargo run --quiet --locked --release -p sandbox-bench -- compare {{baseline}} {{candidates}}

# Examples: `just publish`, `just publish --fail-on-regression`,
# `just publish site=site --commit "$GITHUB_SHA"` (site= another site directory). Writes
# history.json, index.html (a trend per scenario, phase and controller with regressions marked,
# the latest knee curves, the conformance history, each run's report), badges/*.svg and
# summary.md; publishing a run again changes nothing. Exit codes: 0 published, 1 a published run
# regressed (with --fail-on-regression), 2 a run or the site of another schema (nothing
# written), 3 I/O.
# Add every run under runs/ (bench, knee, conformance) to the static history site runs/site/.
publish *args:
    #!/usr/bin/env bash
    set -euo pipefail
    site=runs/site; flags=()
    for arg in {{args}}; do
        case "$arg" in
            site=*) site="${arg#site=}" ;;
            *) flags+=("$arg") ;;
        esac
    done
    exec cargo run --quiet --locked --release -p sandbox-bench -- publish runs --site "$site" ${flags[@]+"${flags[@]}"}

# Run the criterion benchmarks.
criterion:
    cargo bench --locked -p sandbox-benches
