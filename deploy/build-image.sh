#!/usr/bin/env bash
# Builds the rdbshift container image from scratch: one static binary (musl), nothing else,
# no base image from any registry. Uses buildah from Debian's packages.
#
#   deploy/build-image.sh [TAG]        (default tag: localhost/rdbshift:VERSION)
#
# It installs what it needs when run as root on Debian (musl-tools, buildah) and adds the
# x86_64-unknown-linux-musl target with rustup. The image's entrypoint is /rdbshift; it runs
# as user 65534 (nobody) and holds nothing but the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
tag=${1:-localhost/rdbshift:$version}
target=x86_64-unknown-linux-musl
need=()
command -v musl-gcc >/dev/null || need+=(musl-tools)
command -v buildah >/dev/null || need+=(buildah)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
  else
    echo "build-image.sh: needs ${need[*]} (apt-get install ${need[*]})" >&2
    exit 1
  fi
fi
rustup target list --installed | grep -qx "$target" || rustup target add "$target"
cargo build --release --locked --target "$target" --bin rdbshift
bin=target/$target/release/rdbshift
# a static binary or nothing: a scratch image has no loader and no libc
if ! file "$bin" | grep -q 'static'; then
  echo "build-image.sh: $bin is not statically linked" >&2
  exit 1
fi
ctr=$(buildah from scratch)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
buildah copy --chmod 0755 "$ctr" "$bin" /rdbshift >/dev/null
buildah config --entrypoint '["/rdbshift"]' --cmd '["--help"]' --user 65534:65534 \
  --workingdir /data --label org.opencontainers.image.title=rdbshift \
  --label "org.opencontainers.image.version=$version" "$ctr"
buildah commit --quiet "$ctr" "$tag" >/dev/null
echo "$tag"
