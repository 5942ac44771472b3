#!/usr/bin/env bash
# Installs what paradym-webhooks needs to build, run and test on Debian 12,
# then configures and builds it with CMake into ./build.
#
#   scripts/setup.sh            # packages + build
#   SKIP_BUILD=1 scripts/setup.sh   # packages only
#
# Runs as root (or through sudo). Only installs what is missing, so a second
# run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkgconf
  libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev
  libabsl-dev rapidjson-dev libssl-dev libsqlite3-dev sqlite3 libboost1.81-dev android-libboringssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # The clang build: -Wthread-safety, ASan + UBSan, libFuzzer (scripts/test.sh).
  clang-14 libclang-rt-14-dev
  # --store=jetstream: cnats, and NATS servers for its tests and benchmark.
  libnats-dev nats-server
  bazel-bootstrap bazel-rules-java
  ca-certificates curl openssl
  # The Python example (client/examples/python): Debian's grpcio and protobuf,
  # stubs from protoc with grpc_python_plugin (protobuf-compiler-grpc).
  python3-grpcio python3-protobuf
)

# Node.js and npm for the tools in tools/ (buf) and the Node.js example,
# unless some Node.js is there.
command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]})); then
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "setup: run as root to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "setup: installing ${missing[*]}" >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x tools/node_modules/.bin/buf ]]; then
  echo "setup: installing tools/ from npm" >&2
  (cd tools && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

if [[ ! -d client/examples/node/node_modules/@grpc/grpc-js ||
      ! -d client/examples/node/node_modules/@grpc/proto-loader ]]; then
  echo "setup: installing client/examples/node from npm" >&2
  (cd client/examples/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

if [[ -z "${SKIP_BUILD:-}" ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
  cmake --build build -j"$(nproc)"
fi
