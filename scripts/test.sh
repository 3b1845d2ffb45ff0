#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine and runs every test twice:
# a RelWithDebInfo build (unit + integration labels) and an ASan+UBSan build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)

run_suite() { # build-dir cmake-args...
  local dir=$1; shift
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && ctest -j"$jobs" --output-on-failure --timeout 300)
}

echo "== build and test (RelWithDebInfo)"
run_suite build/ci -DCMAKE_BUILD_TYPE=RelWithDebInfo
echo "== build and test (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite build/ci-asan -DCMAKE_BUILD_TYPE=Debug -DGROVE_SANITIZE=ON
echo "all test suites passed"
