#!/usr/bin/env bash
# A real personal HTCondor pool for the tests. Debian 12 has no HTCondor package and Debian 13's
# binaries need a newer glibc, so the daemons run in a Debian 13 "trixie" chroot built with
# debootstrap, with Debian's `condor` package inside; the host talks to it over 127.0.0.1:9618
# with the pip `htcondor2` bindings. Run as root. Idempotent.
#
#   condor.sh up      build the chroot (first time ~2 min), (re)start the pool, print the client env
#   condor.sh down    stop the daemons and unmount (the chroot is kept for the next `up`)
#   condor.sh purge   down + delete the chroot
#   condor.sh env     print the client environment only (shell `export` lines)
#
# Decisions (see tests/integration/test_backend_condor.py):
# - Jobs run as the unix user $CONDOR_USER (uid $CONDOR_UID) that exists with the same uid on the
#   host and in the chroot: the schedd refuses jobs owned by root. Host clients identify as that
#   user with CLAIMTOBE (loopback test pool only; FS authentication fails across the chroot).
# - The worker must run inside the chroot: python3 + psycopg + numpy + yaml come from trixie, the
#   repository is bind-mounted at the same path ($REPO), and /usr/local/bin/jobman in the chroot
#   runs `python3 -m jobstore.cli` with $REPO (and its tests/experiments) on PYTHONPATH. Jobs
#   submitted with getenv must therefore not carry a PATH whose first `jobman` is the host venv's.
# - /tmp is bind-mounted, so job dirs, logs and EXPROOT under /tmp have the same path on both
#   sides; they must be writable by $CONDOR_USER.
# - The Debian mirror is the one the machine's own apt uses (or $DEBIAN_MIRROR); no host is
#   hard-coded here.
set -euo pipefail
R=${CONDOR_ROOT:-/srv/jobman-condor-root}
CU=${CONDOR_USER:-ciuser}
CUID=${CONDOR_UID:-2001}
PORT=9618
DOMAIN=ci.local
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=${CONDOR_REPO:-$(cd "$HERE/../.." && pwd)}
# A repository under /tmp is already visible in the chroot through the /tmp bind; binding it again
# would mount it onto itself (and keep the host from deleting it).
case "$REPO/" in /tmp/*) REPO_BIND=0;; *) REPO_BIND=1;; esac
CHROOT_PKGS="condor python3 python3-psycopg python3-numpy python3-yaml"

# A clean environment inside the chroot: a caller's CONDOR_CONFIG (the pip bindings set
# CONDOR_CONFIG=/dev/null in the process that imports them) or _CONDOR_* client settings would
# otherwise reach the daemons ("Cannot open log file '/var/lib/condor/log/MasterLog'").
# (Proxy settings, if any, are kept so that apt inside the chroot reaches the same mirror.)
in_chroot() {
  local keep=() v
  for v in http_proxy https_proxy HTTP_PROXY HTTPS_PROXY no_proxy NO_PROXY; do
    [ -n "${!v:-}" ] && keep+=("$v=${!v}")
  done
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root "${keep[@]}" chroot "$R" "$@"
}

alive() { [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }

client_env() {
  cat <<EOF
export _CONDOR_COLLECTOR_HOST=127.0.0.1:$PORT
export _CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS=CLAIMTOBE
export _CONDOR_SEC_CLAIMTOBE_USER=$CU
export _CONDOR_UID_DOMAIN=$DOMAIN
export _CONDOR_FILESYSTEM_DOMAIN=$DOMAIN
EOF
}

debian_mirror() {  # the first non-security Debian URI the machine's apt already uses
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local uri=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    uri=$(awk 'tolower($1)=="uris:" {for (i=2;i<=NF;i++) if ($i !~ /security/ && $i ~ /\/debian\/?$/) {print $i; exit}}' "$f")
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | awk '$1=="deb" {for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {if ($i !~ /security/ && $i ~ /\/debian\/?$/) {print $i; exit} break}}')
  fi
  echo "$uri"
}

umount_all() {
  local m
  local repo_m=""
  if [ "$REPO_BIND" = 1 ]; then repo_m=${REPO#/}; fi
  for m in $repo_m tmp dev/pts dev proc; do
    if mountpoint -q "$R/$m"; then umount "$R/$m" || umount -l "$R/$m"; fi
  done
}

down() {
  local pid
  if [ -s "$R/run-ci/master.pid" ]; then
    pid=$(cat "$R/run-ci/master.pid")
    if alive "$pid"; then
      kill -TERM "$pid"                      # the master shuts its daemons down, then exits
      for _ in $(seq 150); do alive "$pid" || break; sleep 0.2; done
      if alive "$pid"; then kill -KILL "$pid"; fi
    fi
    rm -f "$R/run-ci/master.pid"
  fi
  umount_all
}

pool_ready() {  # a schedd and a startd are in the collector
  local n
  n=$(in_chroot condor_status -any -af MyType 2>/dev/null | grep -cE '^(Scheduler|Machine)$' || true)
  [ "${n:-0}" -ge 2 ]
}

build() {
  if [ -x "$R/usr/sbin/condor_master" ] && [ -e "$R/run-ci/built" ]; then return 0; fi
  local mirror
  mirror=$(debian_mirror)
  [ -n "$mirror" ] || { echo "condor.sh: no Debian mirror found in the apt sources; set DEBIAN_MIRROR" >&2; exit 1; }
  export DEBIAN_FRONTEND=noninteractive
  if ! command -v debootstrap >/dev/null; then
    apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends debootstrap >/dev/null \
      || { apt-get update -q >/dev/null; apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends debootstrap >/dev/null; }
  fi
  if [ ! -x "$R/usr/bin/apt-get" ]; then
    umount_all
    rm -rf --one-file-system "$R"; mkdir -p "$R"
    debootstrap --variant=minbase trixie "$R" "$mirror" >/dev/null
  fi
  printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"; chmod +x "$R/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$R/etc/resolv.conf"
  mountpoint -q "$R/proc" || mount -t proc proc "$R/proc"
  in_chroot env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  # condor's postinst complains about systemctl/systemd-tmpfiles: harmless without systemd.
  in_chroot env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 \
    --no-install-recommends $CHROOT_PKGS >/dev/null 2>&1
  umount "$R/proc"
  mkdir -p "$R/run-ci"; touch "$R/run-ci/built"
}

configure() {
  cp /etc/hosts "$R/etc/hosts"            # the daemons must resolve $(hostname)
  id "$CU" >/dev/null 2>&1 || useradd -m -u "$CUID" -s /bin/bash "$CU"
  in_chroot id "$CU" >/dev/null 2>&1 || in_chroot useradd -m -u "$(id -u "$CU")" -s /bin/bash "$CU"
  if [ "$REPO_BIND" = 1 ]; then mkdir -p "$R$REPO"; fi
  # The job owner must reach the repository inside the chroot even where a parent directory is
  # private there (a clone under /root: the chroot's /root is 0700).
  local d="$REPO"
  while [ "$d" != / ]; do d=$(dirname "$d"); chmod o+x "$R$d"; done
  # The worker command inside the chroot (see the header).
  cat > "$R/usr/local/bin/jobman" <<EOF
#!/bin/sh
# Written by tests/infra/condor.sh: the repository at $REPO is bind-mounted here.
PYTHONPATH="$REPO:$REPO/tests/experiments\${PYTHONPATH:+:\$PYTHONPATH}"
export PYTHONPATH
exec /usr/bin/python3 -m jobstore.cli "\$@"
EOF
  chmod 0755 "$R/usr/local/bin/jobman"
  cat > "$R/etc/condor/config.d/99-jobman-ci.config" <<EOF
# Throwaway single-machine pool on loopback (tests only). Written by tests/infra/condor.sh.
use ROLE : Personal
CONDOR_HOST = 127.0.0.1
NETWORK_INTERFACE = 127.0.0.1
BIND_ALL_INTERFACES = False
ENABLE_IPV6 = False
COLLECTOR_HOST = 127.0.0.1:$PORT
UID_DOMAIN = $DOMAIN
FILESYSTEM_DOMAIN = $DOMAIN
TRUST_UID_DOMAIN = True
# CLAIMTOBE lets host-side clients (outside the chroot) identify as their unix user; FS alone
# fails across the chroot boundary. Acceptable only for a loopback test pool.
SEC_DEFAULT_AUTHENTICATION_METHODS = FS, CLAIMTOBE
SEC_CLIENT_AUTHENTICATION_METHODS = FS, CLAIMTOBE
SEC_READ_AUTHENTICATION_METHODS = FS, CLAIMTOBE
ALLOW_READ = *
ALLOW_WRITE = *
ALLOW_DAEMON = *
ALLOW_NEGOTIATOR = *
ALLOW_ADMINISTRATOR = *
ALLOW_ADVERTISE_MASTER = *
ALLOW_ADVERTISE_SCHEDD = *
ALLOW_ADVERTISE_STARTD = *
# Pretend 8 CPUs and 2 GPUs (names only) so request_gpus jobs match; jobs see
# CUDA_VISIBLE_DEVICES / _CONDOR_AssignedGPUs = fakegpu0|fakegpu1.
NUM_CPUS = ${CONDOR_CPUS:-8}
MEMORY = 8192
MACHINE_RESOURCE_GPUs = fakegpu0, fakegpu1
# No cgroups / namespaces / keyrings in this sandbox; the starter's private mount namespace
# fails in a chroot ("Failed to unshare the mount namespace", errno 22).
BASE_CGROUP =
CGROUP_MEMORY_LIMIT_POLICY = none
USE_PID_NAMESPACES = False
DISCARD_SESSION_KEYRING_ON_STARTUP = False
MOUNT_UNDER_SCRATCH =
MOUNT_PRIVATE_DEV_SHM = False
# Fast turnaround
UPDATE_INTERVAL = 2
NEGOTIATOR_INTERVAL = 2
NEGOTIATOR_CYCLE_DELAY = 2
SCHEDD_INTERVAL = 2
STARTER_UPDATE_INTERVAL = 2
STARTER_INITIAL_UPDATE_INTERVAL = 2
POLLING_INTERVAL = 2
PERIODIC_EXPR_INTERVAL = 5
SHADOW_QUEUE_UPDATE_INTERVAL = 2
EOF
}

up() {
  down
  build
  configure
  mount -t proc proc "$R/proc"
  mount --bind /dev "$R/dev"
  mount --bind /dev/pts "$R/dev/pts"
  mount --bind /tmp "$R/tmp"                # same job paths inside and out
  if [ "$REPO_BIND" = 1 ]; then mount --bind "$REPO" "$R$REPO"; fi  # the worker's code, at the same path
  mkdir -p "$R/run-ci"
  rm -f "$R/var/log/condor/.master_address"
  # -f: stay in the foreground so $! is the master (it drops to the condor user and cannot
  # write a -pidfile into a root-owned dir). setsid: its own session, detached from ours.
  setsid env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 chroot "$R" /usr/sbin/condor_master -f >"$R/run-ci/master.stderr" 2>&1 </dev/null 9>&- &
  echo $! > "$R/run-ci/master.pid"
  for _ in $(seq 300); do pool_ready && break; sleep 0.2; done
  if ! alive "$(cat "$R/run-ci/master.pid")"; then
    echo "condor.sh: condor_master died; see $R/var/log/condor/MasterLog" >&2
    tail -n 5 "$R/var/log/condor/MasterLog" "$R/run-ci/master.stderr" >&2 || true
    exit 1
  fi
  pool_ready || { echo "condor.sh: no schedd+startd in the collector after 60 s" >&2; exit 1; }
}

is_up() {  # fast path for the test fixtures: master alive, mounts present, pool answers.
  # A master that is alive is given up to 30 s to answer (it may have just been started, or the
  # machine may be busy): restarting it would kill the jobs of a concurrent test session.
  [ -s "$R/run-ci/master.pid" ] && alive "$(cat "$R/run-ci/master.pid")" \
    && mountpoint -q "$R/tmp" && { [ "$REPO_BIND" = 0 ] || mountpoint -q "$R$REPO"; } \
    && [ "$(stat -c %d:%i "$REPO")" = "$(stat -c %d:%i "$R$REPO")" ] \
    && grep -qF "PYTHONPATH=\"$REPO:" "$R/usr/local/bin/jobman" || return 1  # the worker runs this repository
  # (the last test: the mount still shows this very directory, not one deleted and re-created
  # at the same path, e.g. a repository cloned again)
  for _ in $(seq 150); do pool_ready && return 0; sleep 0.2; done
  return 1
}

# Several test sessions may call `up` at once: one at a time (the others then find the pool up).
mkdir -p /run/lock
exec 9>/run/lock/jobman-condor.lock
flock -w 900 9

case "${1:-up}" in
  up)
    if [ "${CONDOR_RESTART:-0}" = 1 ] || ! is_up; then up; fi
    echo "condor pool up (chroot $R); host-side client environment:"
    client_env
    echo "# jobs run as $CU inside the chroot; job dirs under /tmp writable by $CU; worker: /usr/local/bin/jobman"
    ;;
  down) down; echo "condor stopped";;
  purge) down; rm -rf --one-file-system "$R"; echo "chroot removed";;
  env) client_env;;
  *) echo "usage: $0 up|down|purge|env" >&2; exit 2;;
esac
