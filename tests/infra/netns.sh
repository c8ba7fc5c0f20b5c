#!/usr/bin/env bash
# N fake hosts for the ssh backend's multi-host tests: network namespaces jm-h1..jm-hN on one bridge,
# each with its own address, its own hostname (UTS namespace) and its own sshd on port 22 with its
# own host key. Run as root (Debian 12: iproute2, openssh-server). Loopback-range addresses only:
# the bridge is 127.201.0.1/16 in the root namespace, the hosts are 127.201.0.11, .12, ...; nothing
# is routed anywhere else (no default route in the namespaces, no ip_forward, no NAT).
#   netns.sh up [N]   (re)create N hosts (default 2), print their facts
#   netns.sh down     remove them
#   netns.sh env      print the facts without starting anything
# The client key and authorized keys are sshd.sh's (it is run first); the hosts' keys go to their
# own known_hosts file. Why 127.x works off 'lo': route_localnet=1 on the interfaces, and a more
# specific route for 127.201.0.0/16 in the local table than the kernel's 127.0.0.0/8 on lo.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SSHD_DIR=${SSHD_DIR:-/tmp/jobman-sshd}
DIR=${NETNS_DIR:-/tmp/jobman-netns}
BR=jmbr0
NET=127.201.0
action=${1:-up}
N=${2:-2}

alive() {  # running and not a zombie
  [ -r "/proc/$1/stat" ] && [ "$(sed 's/^.*) //' "/proc/$1/stat" | cut -c1)" != Z ]
}
facts() {
  local list=""
  for d in "$DIR"/h*; do [ -d "$d" ] && list="$list${list:+,}$(cat "$d/addr")"; done
  echo "hosts=$list"
  echo "key=$SSHD_DIR/client_key"
  echo "known_hosts=$DIR/known_hosts"
}
down() {
  for f in "$DIR"/h*/sshd.pid; do
    [ -s "$f" ] || continue
    pid=$(cat "$f"); kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    rm -f "$f"
  done
  # processes started with `ip netns exec` would keep a namespace alive: the sshds are gone now
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^jm-h[0-9]*$' || true); do
    # a process left inside (an ssh session, a task) would keep the namespace and its veth alive
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    ip netns del "$ns"
  done
  # the kernel tears a namespace (and its veth pair) down asynchronously: wait until the host side
  # links are gone, or an immediate `up` fails on a name still taken ("RTNETLINK answers: File exists")
  for _ in $(seq 200); do
    ip -o link show 2>/dev/null | grep -q ' jm-h[0-9]*-br@' || break
    sleep 0.05
  done
  ip link del "$BR" 2>/dev/null || true
  rm -rf "$DIR"/h*
}

case "$action" in
  down) down; exit 0 ;;
  env) facts; exit 0 ;;
  up) ;;
  *) echo "usage: $0 up [N]|down|env (not '$action')" >&2; exit 2 ;;
esac
case "$N" in ''|*[!0-9]*|0) echo "netns.sh up N: N must be a positive number (not '$N')" >&2; exit 2 ;; esac

bash "$here/sshd.sh" up >/dev/null  # the client key, the authorized keys, /run/sshd, the test user
command -v ip >/dev/null || { echo "netns.sh: 'ip' not found: apt-get install iproute2" >&2; exit 1; }
down
install -d -m 0755 "$DIR"

ip link add "$BR" type bridge
sysctl -qw "net.ipv4.conf.$BR.route_localnet=1"
ip addr add "$NET.1/16" dev "$BR"
ip link set "$BR" up
ip route add "$NET.0/16" dev "$BR" table local proto static scope link src "$NET.1"

: > "$DIR/known_hosts"
for i in $(seq 1 "$N"); do
  ns=jm-h$i; addr=$NET.$((10 + i)); d=$DIR/h$i
  mkdir -p "$d"
  echo "$addr" > "$d/addr"
  ip netns add "$ns"
  ip link add "$ns-br" type veth peer name eth0 netns "$ns"
  ip link set "$ns-br" master "$BR" up
  ip netns exec "$ns" sh -ec "
    ip link set lo up
    sysctl -qw net.ipv4.conf.eth0.route_localnet=1
    ip addr add $addr/16 dev eth0
    ip link set eth0 up
    ip route add $NET.0/16 dev eth0 table local proto static scope link src $addr
  "
  ssh-keygen -q -t ed25519 -N '' -C "$ns" -f "$d/host_key"
  echo "$addr $(cut -d' ' -f1,2 "$d/host_key.pub")" >> "$DIR/known_hosts"  # port 22: the bare address
  sed -e "s|^ListenAddress .*|ListenAddress $addr|" -e "s|^Port .*|Port 22|" \
      -e "s|^HostKey .*|HostKey $d/host_key|" -e "s|^PidFile .*|PidFile $d/sshd.pid|" \
      "$SSHD_DIR/sshd_config" > "$d/sshd_config"
  /usr/sbin/sshd -t -f "$d/sshd_config"
  ip netns exec "$ns" unshare --uts sh -c "hostname $ns && exec /usr/sbin/sshd -f '$d/sshd_config' -E '$d/sshd.log'"
done
for i in $(seq 1 "$N"); do
  d=$DIR/h$i
  for _ in $(seq 100); do
    [ -s "$d/sshd.pid" ] && (exec 3<>"/dev/tcp/$(cat "$d/addr")/22") 2>/dev/null && break
    sleep 0.1
  done
  if ! (exec 3<>"/dev/tcp/$(cat "$d/addr")/22") 2>/dev/null; then
    echo "sshd of jm-h$i did not answer on $(cat "$d/addr"):22; last lines of $d/sshd.log:" >&2
    tail -5 "$d/sshd.log" >&2 || true
    exit 1
  fi
done
facts
