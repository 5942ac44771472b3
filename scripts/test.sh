#!/usr/bin/env bash
# Sets everything up and runs every test:
#   1. the CMake build (OpenSSL) and its whole CTest suite;
#   2. the core and its unit tests built against BoringSSL (CMake,
#      -DPARADYM_CRYPTO=boringssl), proving the crypto code on both libraries;
#   3. the Bazel build on Debian's packages, offline: every test, then the
#      core's tests on BoringSSL.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
jobs="$(nproc)"

echo "test: CMake, OpenSSL" >&2
(cd build && ctest --output-on-failure -j"$jobs" --timeout 600)

echo "test: CMake, the core on BoringSSL" >&2
cmake -S . -B build-boringssl -G Ninja -DPARADYM_CRYPTO=boringssl \
  -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build build-boringssl -j"$jobs"
(cd build-boringssl && ctest --output-on-failure -j"$jobs" --timeout 600)

echo "test: Bazel, Debian's packages (--config=system)" >&2
bazel test --config=system //...

echo "test: Bazel, the core on BoringSSL" >&2
bazel test --config=system --config=boringssl //tests:core_tests
