#!/usr/bin/env bash
# A real single-node SLURM cluster for the tests (Debian's slurm-wlm 22.05 + munge), no systemd,
# no cgroups. Run as root. Idempotent.
#
#   slurm.sh up      install if missing, configure, start munged + slurmctld + slurmd, wait idle
#                    (fast no-op when the cluster is already up with the same settings)
#   slurm.sh down    stop the daemons this script started
#
# Env: SLURM_CPUS (default 8: config_overrides lets a 2-core box run 8 one-CPU tasks at once),
#      SLURM_FAKE_GPUS (default 2: gres character devices, clones of /dev/null, so that
#      --gres=gpu:N / --gpus=N run and get CUDA_VISIBLE_DEVICES), SLURM_MAX_ARRAY (default 1001,
#      SLURM's own default MaxArraySize), SLURM_CRED_EXPIRE (default 10: AuthInfo=cred_expire, which
#      also holds a requeued job that long + 1 s; SLURM's default is 120), SLURM_RESTART=1 to force
#      a restart.
set -euo pipefail
RUN=/run/jobman-slurm
CPUS=${SLURM_CPUS:-8}
GPUS=${SLURM_FAKE_GPUS:-2}
MAX_ARRAY=${SLURM_MAX_ARRAY:-1001}
CRED_EXPIRE=${SLURM_CRED_EXPIRE:-10}
CONF=/etc/slurm/slurm.conf

alive() { [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }

stop_pid() {  # stop one daemon by pid file and wait until it is gone (zombies count as gone)
  local f=$1 pid
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$f"
}

down() {
  stop_pid /run/slurmd.pid
  stop_pid /run/slurmctld.pid
  stop_pid /run/munge/munged.pid
}

node_state() { sinfo -h -n localhost -o %T 2>/dev/null || true; }

render_conf() {  # slurm.conf on stdout; MEM = 90% of what slurmd -C sees, so the node never drains
  local mem gres_types="" node_gres=""
  mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p'); mem=$((mem * 9 / 10))
  if [ "$GPUS" -gt 0 ]; then gres_types="GresTypes=gpu"; node_gres="Gres=gpu:$GPUS"; fi
  cat <<EOF
# Written by tests/infra/slurm.sh (jobman test cluster)
ClusterName=jobmanci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# A requeued batch job may start again only cred_expire + 1 s after its requeue (120 s by default):
# a site may shorten it the same way (5 s at least); it must cover a job launch, here on loopback.
AuthInfo=cred_expire=$CRED_EXPIRE
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
SchedulerType=sched/backfill
# Scheduling passes every second (the backfill pass starts most jobs here: 8 CPUs' worth per pass):
# a 1,000-task array of `true` ran in 59 s instead of 107 s with 2 s passes.
SchedulerParameters=sched_interval=1,bf_interval=1
ReturnToService=2
# config_overrides: trust CPUs=/RealMemory= below even above the hardware.
SlurmdParameters=config_overrides
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
MessageTimeout=10
KillWait=5
MinJobAge=600
MaxArraySize=$MAX_ARRAY
MaxJobCount=20000
InactiveLimit=0
# Reject impossible requests at submit time instead of leaving them PENDING forever.
EnforcePartLimits=ALL
MailProg=/bin/true
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
$gres_types
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$mem $node_gres State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

render_gres() {
  # Fake GPUs must be CHARACTER devices: with Count=N and no File the node goes INVAL, with
  # regular files jobs run without CUDA_VISIBLE_DEVICES.
  [ "$GPUS" -gt 0 ] || return 0
  printf 'AutoDetect=off\nNodeName=localhost Name=gpu File=%s/fakegpu/nvidia[0-%s]\n' "$RUN" $((GPUS - 1))
}

install_pkgs() {
  local missing p
  missing=$(for p in slurmctld slurmd slurm-client munge; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' || echo "$p"; done)
  [ -n "$missing" ] || return 0
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d refuses service starts without systemd: the postinst noise is harmless.
  # shellcheck disable=SC2086
  apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends $missing >/dev/null \
    || { apt-get update -q >/dev/null
         apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends $missing >/dev/null; }
}

is_up() {  # same config on disk as we would write, daemons alive, node usable. Live daemons
  # get up to 30 s to answer (a busy machine): a restart would disturb a concurrent test session.
  [ -s /run/slurmctld.pid ] && alive "$(cat /run/slurmctld.pid)" \
    && [ -s /run/slurmd.pid ] && alive "$(cat /run/slurmd.pid)" \
    && [ -f "$CONF" ] && [ "$(cat "$CONF")" = "$(render_conf)" ] || return 1
  for _ in $(seq 150); do
    case "$(node_state)" in idle|mixed|allocated|completing) return 0;; esac
    sleep 0.2
  done
  return 1
}

up() {
  install_pkgs
  if [ "${SLURM_RESTART:-0}" != 1 ] && is_up; then echo "slurm already up"; return 0; fi
  down
  # munge: no systemd, so create its runtime dir; the key must be munge's, 0400, dir 0700.
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
  fi
  chown munge:munge /etc/munge /etc/munge/munge.key
  chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
  runuser -u munge -- /usr/sbin/munged 9>&-
  for _ in $(seq 50); do [ -S /run/munge/munge.socket.2 ] && break; sleep 0.1; done
  munge -n | unmunge >/dev/null

  install -d -m 0755 /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /etc/slurm "$RUN"
  rm -f /etc/slurm/gres.conf
  if [ "$GPUS" -gt 0 ]; then
    mkdir -p "$RUN/fakegpu"
    for i in $(seq 0 $((GPUS - 1))); do
      [ -c "$RUN/fakegpu/nvidia$i" ] || mknod -m 666 "$RUN/fakegpu/nvidia$i" c 1 3
    done
    render_gres > /etc/slurm/gres.conf
  fi
  render_conf > "$CONF"

  /usr/sbin/slurmctld -c 9>&-        # daemonizes; -c: no jobs carried over from a previous run
  /usr/sbin/slurmd -N localhost 9>&-  # daemonizes; our NodeName is localhost, not $(hostname)
  local st=""
  for _ in $(seq 300); do
    st=$(node_state)
    case "$st" in idle|mixed|allocated) break;; esac
    sleep 0.2
  done
  case "$st" in
    idle|mixed|allocated) echo "slurm up: node localhost $st, CPUs=$CPUS, fake GPUs=$GPUS";;
    *) echo "slurm.sh: node not idle: '$st'" >&2
       tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
       exit 1;;
  esac
}

# Several test sessions may call `up` at once: one at a time (the others then find it up).
mkdir -p /run/lock
exec 9>/run/lock/jobman-slurm.lock
flock -w 900 9

case "${1:-up}" in
  up) up;;
  down) down; echo "slurm stopped";;
  *) echo "usage: $0 up|down" >&2; exit 2;;
esac
