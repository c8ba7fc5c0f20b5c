#!/usr/bin/env bash
# Install (idempotently) and start every real component the test suite uses:
#   PostgreSQL binaries (the suite starts its own throwaway server), SLURM (one node, fake GPUs),
#   a private sshd on 127.0.0.1, two namespace hosts with their own sshd (127.201.0.11-12), and a
#   personal HTCondor pool in a Debian 13 chroot.
# Run as root on Debian 12. Safe to run again: each script restarts what is already there.
# `tests/infra/up.sh down` stops the daemons.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
action=${1:-up}

if [ "$action" = down ]; then
  for s in condor netns sshd slurm; do bash "$here/$s.sh" down || true; done
  exit 0
fi

apt_install() {  # apt_install PKG... : install what is missing, updating the lists once
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ ! -f /tmp/.jobman-apt-updated ]; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq && touch /tmp/.jobman-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
}
export -f apt_install

t0=$(date +%s)
apt_install postgresql postgresql-client pgbouncer python3-venv iproute2 chromium chromium-driver
for s in slurm sshd netns condor; do
  s0=$(date +%s)
  bash "$here/$s.sh" up
  echo "[infra] $s up in $(( $(date +%s) - s0 )) s"
done
echo "[infra] all components up in $(( $(date +%s) - t0 )) s"
