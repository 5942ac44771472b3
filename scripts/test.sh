#!/usr/bin/env bash
# Sets everything up and runs every test: the CMake build and its CTest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 600
