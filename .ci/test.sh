#!/usr/bin/env bash
# The project's test command (README): installs and starts what the tests need,
# then runs every test with NANOCLAW_REQUIRE_DOCKER=1, so nothing Docker-backed
# may skip.
set -euo pipefail
cd "$(dirname "$0")/.."
source .ci/prerequisites.sh
ensure_packages
ensure_docker
docker version --format 'Docker Engine {{.Server.Version}} (API {{.Server.APIVersion}})'
if [ -x .ci/debian-agent-image.sh ] || [ -f .ci/debian-agent-image.sh ]; then
  bash .ci/debian-agent-image.sh
fi
export NANOCLAW_REQUIRE_DOCKER=1
# The end-to-end matrix runs on its own with --show-output, so that every case
# (`PASS mitmproxy/curl/patched`, ...) is named in the output; everything else
# runs in one go first.
e2e=(matrix_against_mitmproxy matrix_against_the_standin builds_through_mitmproxy builds_through_the_standin builds_with_buildkit_through_the_standin)
skips=()
for name in "${e2e[@]}"; do skips+=(--skip "$name"); done
cargo test --workspace --locked "$@" -- "${skips[@]}"
cargo test --workspace --test e2e_matrix --test e2e_build --locked "$@" -- --show-output
