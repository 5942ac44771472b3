#!/usr/bin/env bash
# Maintainers' check that the README's commands work on a bare Debian 12:
# debootstraps a minbase bookworm (no compiler, no cmake, no git) into a
# scratch directory, copies a clean export of HEAD into it, and runs the given
# README command there as root (default: scripts/test.sh).
#
#   sudo scripts/check-fresh-debian.sh                  # the test command
#   sudo scripts/check-fresh-debian.sh scripts/setup.sh # just the setup
#
# Needs root, network access to deb.debian.org and the npm registry, and a few
# GB of disk under ${CHROOT_BASE:-/var/tmp}.
set -euo pipefail
cd "$(dirname "$0")/.."
command="${1:-scripts/test.sh}"
base="${CHROOT_BASE:-/var/tmp}"
root="$(mktemp -d "$base/paradym-fresh-debian.XXXXXX")"
cleanup() {
  for mount in dev/pts dev proc sys; do
    umount "$root/$mount" 2>/dev/null || umount -l "$root/$mount" 2>/dev/null || true
  done
  if [[ -z "${KEEP_CHROOT:-}" ]] && ! grep -q " $root/" /proc/mounts; then
    rm -rf "$root"
  fi
}
trap cleanup EXIT

command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >/dev/null
cp /etc/resolv.conf "$root/etc/resolv.conf"
# Behind a TLS-inspecting proxy (as on our CI machines) Node.js needs the
# proxy's CA, which the host names in NODE_EXTRA_CA_CERTS.
extra_env=()
if [[ -n "${NODE_EXTRA_CA_CERTS:-}" && -f "$NODE_EXTRA_CA_CERTS" ]]; then
  cp "$NODE_EXTRA_CA_CERTS" "$root/etc/host-extra-ca.crt"
  extra_env+=(NODE_EXTRA_CA_CERTS=/etc/host-extra-ca.crt)
fi
mkdir -p "$root/src"
git archive HEAD | tar -x -C "$root/src"
for mount in proc sys dev dev/pts; do
  mkdir -p "$root/$mount"
  mount --bind "/$mount" "$root/$mount"
done
echo "check-fresh-debian: running $command in $root" >&2
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${extra_env[@]}" \
  bash -c "cd /src && $command"
echo "check-fresh-debian: OK ($command)" >&2
