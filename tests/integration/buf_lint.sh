#!/bin/sh
# buf lint over the public contract (proto/buf.yaml): the test buf_lint of
# both builds. Runs from the repository root (CMake) or the runfiles root
# (Bazel) with env PARADYM_BUF, the buf executable.
set -eu
if [ ! -x "${PARADYM_BUF:-}" ]; then
  echo "buf is not installed: run scripts/setup.sh" >&2
  exit 1
fi
# Under Bazel, buf's cache goes to the test's own directory, not $HOME.
if [ -n "${TEST_TMPDIR:-}" ]; then
  export BUF_CACHE_DIR="$TEST_TMPDIR/buf-cache"
fi
buf="$PARADYM_BUF"
case "$buf" in /*) ;; *) buf="$PWD/$buf" ;; esac  # Bazel's is relative
cd proto
exec "$buf" lint
