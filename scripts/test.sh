#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine and runs every test, in the
# configurations CI lands on: a Release build (unit + integration labels), an
# ASan+UBSan build, a ThreadSanitizer build (threaded paths, see
# tests/tsan/CMakeLists.txt) and a clang build that replays the fuzz corpora.
# Warnings are errors here (GROVE_WERROR); a user's own build keeps them
# warnings.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)
top=$PWD

run_suite() { # build-dir ctest-label|all cmake-args...
  local dir=$1 label=$2; shift 2
  cmake -S . -B "$dir" -DGROVE_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  local only=()
  [ "$label" = all ] || only=(-L "$label")
  (cd "$dir" && ctest -j"$jobs" --output-on-failure --timeout 300 "${only[@]}")
}

echo "== build and test (Release)"
run_suite build/ci all -DCMAKE_BUILD_TYPE=Release

echo "== build and test (ASan + UBSan)"
# Leaks inside Debian's uninstrumented libraries are suppressed, each with
# its reason (tests/asan/lsan.supp).
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  LSAN_OPTIONS="suppressions=$top/tests/asan/lsan.supp:print_suppressions=0" \
  run_suite build/ci-asan all -DCMAKE_BUILD_TYPE=Debug -DGROVE_SANITIZE=ON

echo "== build and test (ThreadSanitizer)"
# Every process (groved children included) writes its reports to a file of
# its own: a report anywhere fails the run, not only in the process ctest sees.
reports=$top/build/ci-tsan/tsan-reports
rm -rf "$reports" && mkdir -p "$reports"
TSAN_OPTIONS="suppressions=$top/tests/tsan/tsan.supp:log_path=$reports/report:second_deadlock_stack=1" \
  run_suite build/ci-tsan all -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGROVE_TSAN=ON
if compgen -G "$reports/report*" >/dev/null; then
  cat "$reports"/report*
  echo "ThreadSanitizer reported the races above" >&2
  exit 1
fi

echo "== fuzz targets: corpus replay and a short run each (clang, libFuzzer)"
CC=clang run_suite build/ci-fuzz fuzz -DCMAKE_BUILD_TYPE=Debug -DGROVE_FUZZ=ON
echo "all test suites passed"
