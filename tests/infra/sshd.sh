#!/usr/bin/env bash
# A private OpenSSH server on 127.0.0.1 for the ssh backend's tests (run as root, Debian 12).
#   sshd.sh up     install openssh-server if missing, generate a host key and a client key,
#                  authorize the client key for root and for the test user, write known_hosts,
#                  start sshd (left running if it already answers: idempotent); print its facts
#   sshd.sh down   stop it
#   sshd.sh env    print its facts (key=..., known_hosts=..., port=..., user=...) without starting
# Settings: SSHD_DIR (default /tmp/jobman-sshd), SSHD_PORT (2222), SSHD_ADDR (127.0.0.1),
#           SSHD_USER (test user besides root, default sshtest).
# Everything listens on loopback only.
set -euo pipefail
DIR=${SSHD_DIR:-/tmp/jobman-sshd}
PORT=${SSHD_PORT:-2222}
ADDR=${SSHD_ADDR:-127.0.0.1}
TUSER=${SSHD_USER:-sshtest}
action=${1:-up}

alive() {  # running and not a zombie (PID 1 here reaps orphans 1-2 s late, so kill -0 lies)
  [ -r "/proc/$1/stat" ] && [ "$(sed 's/^.*) //' "/proc/$1/stat" | cut -c1)" != Z ]
}
answers() { (exec 3<>"/dev/tcp/$ADDR/$PORT") 2>/dev/null; }
facts() {
  echo "addr=$ADDR"
  echo "port=$PORT"
  echo "user=$TUSER"
  echo "key=$DIR/client_key"
  echo "known_hosts=$DIR/known_hosts"
  echo "pid=$(cat "$DIR/sshd.pid" 2>/dev/null || true)"
}
running() { [ -s "$DIR/sshd.pid" ] && alive "$(cat "$DIR/sshd.pid")" && answers; }
stop() {
  if [ -s "$DIR/sshd.pid" ]; then
    pid=$(cat "$DIR/sshd.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    rm -f "$DIR/sshd.pid"
  fi
}

case "$action" in
  down) stop; exit 0 ;;
  env) facts; exit 0 ;;
  up) ;;
  *) echo "usage: $0 up|down|env (not '$action')" >&2; exit 2 ;;
esac

if running; then facts; exit 0; fi

if [ ! -x /usr/sbin/sshd ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends \
    openssh-server >/dev/null 2>&1 || {
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends \
      openssh-server >/dev/null
  }
fi
stop
install -d -m 0755 "$DIR" /run/sshd   # /run/sshd: privilege separation dir, systemd would make it

# The test user: '*' = no password but not locked (sshd with UsePAM no refuses locked accounts).
if ! id "$TUSER" >/dev/null 2>&1; then useradd -m -s /bin/bash "$TUSER"; fi
usermod -p '*' "$TUSER"

[ -f "$DIR/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C jobman-test-host -f "$DIR/host_ed25519"
[ -f "$DIR/client_key" ] || ssh-keygen -q -t ed25519 -N '' -C jobman-test-client -f "$DIR/client_key"
chmod 0600 "$DIR/client_key"
install -d -m 0755 "$DIR/authorized_keys"
for u in root "$TUSER"; do install -m 0644 "$DIR/client_key.pub" "$DIR/authorized_keys/$u"; done
# known_hosts: "[host]:port" for a port other than 22, the bare host for 22
if [ "$PORT" = 22 ]; then name=$ADDR; else name="[$ADDR]:$PORT"; fi
echo "$name $(cut -d' ' -f1,2 "$DIR/host_ed25519.pub")" > "$DIR/known_hosts"

cat > "$DIR/sshd_config" <<EOF
ListenAddress $ADDR
Port $PORT
HostKey $DIR/host_ed25519
PidFile $DIR/sshd.pid
AuthorizedKeysFile $DIR/authorized_keys/%u
# the keys live under /tmp (mode 1777): StrictModes would refuse them
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
X11Forwarding no
PrintMotd no
Subsystem sftp internal-sftp
MaxStartups 200:30:400
MaxSessions 200
LogLevel VERBOSE
EOF
/usr/sbin/sshd -t -f "$DIR/sshd_config"
/usr/sbin/sshd -f "$DIR/sshd_config" -E "$DIR/sshd.log"
for _ in $(seq 100); do running && break; sleep 0.1; done
if ! running; then
  echo "sshd did not start on $ADDR:$PORT; last lines of $DIR/sshd.log:" >&2
  tail -5 "$DIR/sshd.log" >&2 || true
  exit 1
fi
facts
