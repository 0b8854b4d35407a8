#!/usr/bin/env bash
# Machine set-up for the pod-level tests (npm run test:pods): podman with runc,
# and a local stand-in for the docker.io/library/node:24-alpine base image.
# Idempotent: what is already in place is left alone; the stand-in image is
# rebuilt only when its inputs (Node binary, npm, this script) changed.
#
# Why a stand-in: the machines the tests run on reach only the npm registry and
# Debian's packages, never Docker Hub. The stand-in behaves as the official image
# does where our Dockerfiles depend on it: ENTRYPOINT docker-entrypoint.sh with
# the official script's rule, node and npm on PATH, user node (uid/gid 1000).
# A user's cluster pulls the real image.
#
# Exit status: 0 when podman can run pods (set up or already set up); 3 when it
# cannot here (not root, no apt, ...), with one line on stderr saying why.
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE=docker.io/library/node:24-alpine
INPUTS_LABEL=traffic-mirroring.stand-in-inputs
cannot() { echo "pods: $*" >&2; exit 3; }

# 1. Packages: podman and runc (crun fails on cgroups in hybrid mode), catatonit
#    (podman builds its pod infra image from it), a static busybox for the
#    stand-in's /bin/sh and core utilities.
missing=()
command -v catatonit >/dev/null || missing+=(catatonit)
command -v podman >/dev/null || missing+=(podman)
command -v runc >/dev/null || [ -x /usr/sbin/runc ] || missing+=(runc)
# (a static binary: ldd finds no libraries)
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || missing+=(busybox-static)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || cannot "needs ${missing[*]} (apt-get install -y ${missing[*]}) and is not root"
  command -v apt-get >/dev/null || cannot "needs ${missing[*]} and there is no apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. containers.conf: podman's default ulimits exceed a sandbox's hard limits, and
#    runc rather than crun. A file that is already there is never overwritten.
CONF=/etc/containers/containers.conf
if [ ! -e "$CONF" ]; then
  [ "$(id -u)" = 0 ] || cannot "needs $CONF (default_ulimits = [], runtime = \"runc\") and is not root"
  mkdir -p /etc/containers
  cat >"$CONF" <<'EOF'
# Written by traffic-mirroring's scripts/pods/setup.sh.
[containers]
# podman's default ulimits exceed the sandbox's hard limits.
default_ulimits = []

[engine]
# crun fails on cgroups v1/hybrid here; runc works.
runtime = "runc"
EOF
elif ! grep -q '^\s*default_ulimits\s*=\s*\[\s*\]' "$CONF" || ! grep -q '^\s*runtime\s*=\s*"runc"' "$CONF"; then
  echo "pods: note: $CONF exists without default_ulimits = [] / runtime = \"runc\"; left as is" >&2
fi
podman info >/dev/null 2>&1 || cannot "podman info fails: $(podman info 2>&1 | tail -1)"

# 3. The stand-in base image, from the Node binary the project installs.
NODE_BIN=$(readlink -f node_modules/node/bin/node 2>/dev/null || true)
[ -x "$NODE_BIN" ] || cannot "node_modules/node/bin/node missing: run npm install first"
NPM_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
[ -f "$NPM_DIR/package.json" ] || cannot "cannot find npm's folder (from $(command -v npm))"
NODE_VERSION=$("$NODE_BIN" --version | tr -d v)
NPM_VERSION=$("$NODE_BIN" -p "require('$NPM_DIR/package.json').version")
inputs=$( { sha256sum "$NODE_BIN" | cut -d' ' -f1; echo "npm $NPM_VERSION"; sha256sum "$0" | cut -d' ' -f1; } | sha256sum | cut -c1-16)
have=$(podman image inspect "$IMAGE" --format "{{ index .Labels \"$INPUTS_LABEL\" }}" 2>/dev/null || true)
if [ "$have" = "$inputs" ]; then
  echo "pods: $IMAGE stand-in up to date (node $NODE_VERSION, npm $NPM_VERSION)"
  exit 0
fi

echo "pods: building the $IMAGE stand-in (node $NODE_VERSION, npm $NPM_VERSION)"
ROOT=$(mktemp -d /tmp/node-stand-in.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,usr/local/lib,etc/ssl/certs,root,home/node,tmp,proc,sys,dev}
chmod 1777 "$ROOT/tmp"
# busybox: sh and the core utilities, as Alpine has them.
cp /bin/busybox "$ROOT/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ -e "$ROOT/bin/$applet" ] || ln -s busybox "$ROOT/bin/$applet"
done
ln -s /bin/env "$ROOT/usr/bin/env"
# node, and the shared libraries it links (the loader included).
cp "$NODE_BIN" "$ROOT/usr/local/bin/node"
for lib in $(ldd "$NODE_BIN" | grep -o '/[^ ]*'); do
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
done
# npm and npx, as the official image installs them.
mkdir -p "$ROOT/usr/local/lib/node_modules"
cp -r "$NPM_DIR" "$ROOT/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/local/bin/npx"
# Users, name resolution, and the CA bundle (RUN npm install reaches the registry).
printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000:Linux User,,,:/home/node:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n' >"$ROOT/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n' >"$ROOT/etc/group"
chown 1000:1000 "$ROOT/home/node"
echo 'hosts: files dns' >"$ROOT/etc/nsswitch.conf"
cp -L /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
# The official image's entrypoint rule: a first argument that starts with `-`,
# or is not a command, is an argument of node.
cat >"$ROOT/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e

# Run command with node if the first argument contains a "-" or is not a system command.
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi

exec "$@"
EOF
chmod 755 "$ROOT/usr/local/bin/docker-entrypoint.sh"

tar -C "$ROOT" --numeric-owner -cf - . | podman import --quiet \
  --change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
  --change 'CMD ["node"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=$NODE_VERSION" \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change "LABEL $INPUTS_LABEL=$inputs" \
  --change 'LABEL traffic-mirroring.stand-in=docker.io/library/node:24-alpine' \
  - "$IMAGE" >/dev/null
echo "pods: $IMAGE stand-in built"
