#!/usr/bin/env bash
# scripts/fuzz.sh [seconds]: fuzzes every libFuzzer target in fuzz/ for
# `seconds` each (default 600), one after the other, and prints each one's
# executions, coverage (cov: edges, ft: features), corpus and time. Builds
# build/fuzz first (CC=clang, -DGROVE_FUZZ=ON, Debug). Environment:
# GROVE_FUZZ_BUILD=<dir> another build directory; GROVE_FUZZ_TARGETS="json_hlc
# config" only those targets. New inputs go to <build>/fuzz/corpus/<target>/,
# crashes to <build>/fuzz/artifacts/; logs to <build>/fuzz/logs/. Exits 1 when
# a target crashed: add the crash input to fuzz/corpus/<target>/ with its fix.
set -euo pipefail
seconds=${1:-600}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${GROVE_FUZZ_BUILD:-$root/build/fuzz}
out=$build/fuzz

if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang cmake -S "$root" -B "$build" -DGROVE_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
fi
if [ -n "${GROVE_FUZZ_TARGETS:-}" ]; then
  read -r -a names <<<"$GROVE_FUZZ_TARGETS"
else
  names=()
  for f in "$out"/fuzz_*.args; do
    n=${f##*/fuzz_}
    names+=("${n%.args}")
  done
fi
mkdir -p "$out/logs"
if ! cmake --build "$build" -j2 --target "${names[@]/#/fuzz_}" >"$out/logs/build.log" 2>&1; then
  cat "$out/logs/build.log"
  exit 1
fi

failed=0
printf '%-20s %12s %8s %8s %10s %8s  %s\n' target executions cov ft corpus seconds result
for name in "${names[@]}"; do
  mapfile -t args <"$out/fuzz_$name.args"
  mapfile -t seeds <"$out/fuzz_$name.seeds"
  log=$out/logs/$name.log
  mkdir -p "$out/corpus/$name"
  start=$(date +%s)
  result=ok
  # libFuzzer stops itself after max_total_time; timeout is the backstop.
  if ! timeout $((seconds + 300)) "$out/fuzz_$name" -max_total_time="$seconds" \
    -print_final_stats=1 "${args[@]}" "$out/corpus/$name" "${seeds[@]}" >"$log" 2>&1; then
    result="CRASH (see $log)"
    failed=1
  fi
  elapsed=$(($(date +%s) - start))
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+) .*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+) .*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*) .*/\1/p' <<<"$last")
  printf '%-20s %12s %8s %8s %10s %8s  %s\n' "$name" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
    "${corp:-?}" "$elapsed" "$result"
done
exit "$failed"
