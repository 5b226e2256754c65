#!/usr/bin/env bash
# Makes sure what the tests need is on this machine: a Docker daemon, mitmproxy, docker-registry,
# debootstrap, curl, git, pip. Installs Debian packages when missing (needs root or sudo).
# Sourced by .ci/test.sh; safe to run again (does nothing when all is present).
set -euo pipefail

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_packages() {
  local missing=()
  command -v mitmdump >/dev/null || missing+=(mitmproxy)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v curl >/dev/null || missing+=(curl)
  command -v git >/dev/null || missing+=(git)
  command -v python3 >/dev/null || missing+=(python3)
  # .ci/debian-agent-image.sh downloads the Node 24 and Deno wheels with pip.
  python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
  # daemon_config.rs: a registry double for the second dockerd's pulls.
  [ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt_install "${missing[@]}"
  fi
}

docker_up() { timeout 10 docker version >/dev/null 2>&1; }

ensure_docker() {
  if docker_up; then return 0; fi
  if ! command -v dockerd >/dev/null; then
    echo "no Docker Engine: installing Debian's docker.io"
    apt_install docker.io
  fi
  docker_up && return 0
  echo "starting dockerd"
  as_root sh -c 'nohup dockerd >/tmp/nanoclaw-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do docker_up && return 0; sleep 1; done
  echo "dockerd did not come up; see /tmp/nanoclaw-dockerd.log" >&2
  tail -20 /tmp/nanoclaw-dockerd.log >&2 || true
  return 1
}
