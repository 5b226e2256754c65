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
cargo test --workspace --locked "$@"
