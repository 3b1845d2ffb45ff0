#!/usr/bin/env bash
# Installs every Debian package groved needs to build, test and benchmark. Idempotent.
set -euo pipefail
packages=(
  build-essential cmake pkg-config clang-format
  clang libclang-rt-14-dev
  libsqlite3-dev sqlite3
  libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
  libgrpc-dev protobuf-compiler-grpc python3-grpcio python3-protobuf
  libnng-dev libmbedtls-dev
  libmicrohttpd-dev libgnutls28-dev libcurl4-gnutls-dev
  libcriterion-dev libjansson-dev
  libsystemd-dev
  python3-yaml gnutls-bin openssl curl iproute2 procps groff-base
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm for the Data API's Node client test (@grpc/grpc-js). Checked
# by command: a nodejs from elsewhere may bundle npm and conflict with Debian's.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
