#!/usr/bin/env bash
# Sets everything up and runs every test:
#   1. the CMake build (OpenSSL) and its whole CTest suite;
#   2. the core and its unit tests built against BoringSSL (CMake,
#      -DPARADYM_CRYPTO=boringssl), proving the crypto code on both libraries;
#   3. the Bazel build on Debian's packages, offline: every test, then the
#      core's tests on BoringSSL;
#   4. the clang build with AddressSanitizer and UndefinedBehaviorSanitizer
#      (and -Wthread-safety as an error): the whole CTest suite again, then
#      each libFuzzer target for 15 seconds (scripts/fuzz.sh).
# Each step's time is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS=0
times=()
step_done() { times+=("$(printf '%4ds  %s' "$SECONDS" "$1")"); SECONDS=0; }
trap 'printf "test: %s\n" "${times[@]}" >&2' EXIT

scripts/setup.sh
step_done "setup and the CMake build"
jobs="$(nproc)"

echo "test: CMake, OpenSSL" >&2
(cd build && ctest --output-on-failure -j"$jobs" --timeout 600)
step_done "CMake, OpenSSL: ctest"

echo "test: CMake, the core on BoringSSL" >&2
cmake -S . -B build-boringssl -G Ninja -DPARADYM_CRYPTO=boringssl \
  -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build build-boringssl -j"$jobs"
(cd build-boringssl && ctest --output-on-failure -j"$jobs" --timeout 600)
step_done "CMake, the core on BoringSSL: build and ctest"

echo "test: Bazel, Debian's packages (--config=system)" >&2
bazel test --config=system //...
step_done "Bazel, Debian's packages"

echo "test: Bazel, the core on BoringSSL" >&2
bazel test --config=system --config=boringssl //tests:core_tests
step_done "Bazel, the core on BoringSSL"

echo "test: CMake, clang with ASan and UBSan; fuzzing" >&2
cmake -S . -B build-sanitize -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 \
  -DPARADYM_SANITIZE=ON -DPARADYM_FUZZ=ON \
  -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build build-sanitize -j"$jobs"
step_done "clang, ASan and UBSan: build"
(cd build-sanitize && ctest --output-on-failure -j"$jobs" --timeout 900)
step_done "clang, ASan and UBSan: ctest"
scripts/fuzz.sh 15
step_done "fuzzing"
