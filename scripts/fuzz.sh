#!/usr/bin/env bash
# Runs every libFuzzer target of a -DPARADYM_FUZZ=ON build for a while each.
#
#   scripts/fuzz.sh                      # 15 s each (CI), build-sanitize
#   scripts/fuzz.sh 600                  # 10 minutes each, by hand
#   scripts/fuzz.sh 600 http_request     # one target
#   BUILD_DIR=build-fuzz scripts/fuzz.sh
#
# Each target starts from its seeds (fuzz/corpus/<target>, and
# tests/testdata for the normalizer); what it discovers goes to
# $BUILD_DIR/fuzz-corpus/<target>, and a crash, leak or timeout to
# $BUILD_DIR/fuzz-artifacts/. Every crash found is fixed, and its input added
# to fuzz/corpus/<target> and to the relevant unit test.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-15}"
only="${2:-}"
build="${BUILD_DIR:-build-sanitize}"

declare -A seeds=(
  [event_normalizer]="fuzz/corpus/event_normalizer tests/testdata/events tests/testdata/bad"
  [signature_header]="fuzz/corpus/signature_header"
  [page_token]="fuzz/corpus/page_token"
  [http_request]="fuzz/corpus/http_request"
)

mkdir -p "$build/fuzz-artifacts"
for target in event_normalizer signature_header page_token http_request; do
  [[ -n "$only" && "$only" != "$target" ]] && continue
  binary="$build/fuzz/${target}_fuzzer"
  [[ -x "$binary" ]] || { echo "fuzz: $binary is missing: configure with -DPARADYM_FUZZ=ON" >&2; exit 1; }
  mkdir -p "$build/fuzz-corpus/$target"
  echo "fuzz: $target for ${seconds}s" >&2
  # -timeout: one input may take this long (the HTTP target waits for the
  # server); -rss_limit_mb: libFuzzer's default, said out loud;
  # -print_final_stats: the executions and coverage in the log.
  # shellcheck disable=SC2086
  "$binary" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/${target}-" \
    "$build/fuzz-corpus/$target" ${seeds[$target]} 2>"$build/fuzz-artifacts/$target.log" ||
    { tail -n 60 "$build/fuzz-artifacts/$target.log" >&2; echo "fuzz: $target failed" >&2; exit 1; }
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$build/fuzz-artifacts/$target.log" | tr '\n' ' ' >&2
  echo >&2
done
