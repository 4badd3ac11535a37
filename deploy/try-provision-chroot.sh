#!/usr/bin/env bash
# deploy/provision.sh for real on a fresh Debian 12 in a chroot, as a fleet operator runs it,
# then the station started by hand as orge.service would start it. docs/operations.md,
# "Provisioned for real". Needs root, debootstrap, the Debian archive and PyPI; a few minutes.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: deploy/try-provision-chroot.sh [--dir DIR] [--mirror URL] [--ca FILE]... [--keep]

  1 debootstrap --variant=minbase bookworm DIR MIRROR; /proc, /sys, /dev, /dev/pts mounted
  2 into DIR: this checkout's HEAD (git archive) as /root/orge, its wheel in /root/wheels,
    the fleet's /etc/ocpp_station.env (0600)
  3 the demo CSMS (`orge run`, only demo_csms:) on 127.0.0.1:19090, from this checkout's .venv
  4 provision.sh --env-file /etc/ocpp_station.env --wheel ... inside DIR, twice: the second
    run must change nothing
  5 the station started as orge.service starts it (its User=, UMask=, Environment= lines,
    EnvironmentFile= values and ExecStart=, a NOTIFY_SOCKET to see READY=1), then checked:
    READY=1, GET /api/health, the CSMS saw the boot, owners and modes, orge in dialout
  6 everything stopped, unmounted, DIR removed (kept with --keep, unmounted)

Options:
  --dir DIR      the chroot (default: /var/tmp/orge-provision-chroot; must not exist)
  --mirror URL   the Debian mirror (default: http://deb.debian.org/debian)
  --ca FILE      a CA certificate pip must trust inside DIR (a machine whose egress proxy
                 re-signs TLS); repeatable
  --keep         leave DIR (unmounted) for a look afterwards
Needs: root, debootstrap, git, curl, this checkout set up by scripts/setup (.venv), ports
8000 and 19090 free on 127.0.0.1. Exit 0 when every check passed.
EOF
}

DIR=/var/tmp/orge-provision-chroot MIRROR=http://deb.debian.org/debian KEEP=0 CAS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR=${2:?}; shift 2 ;;
    --mirror) MIRROR=${2:?}; shift 2 ;;
    --ca) CAS+=("${2:?}"); shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "try-provision-chroot: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CSMS_PORT=19090
ENV_FILE=/etc/ocpp_station.env
STATION=ORGE_AC_042
PASSWORD=s3cret-Station-Passw0rd  # made up for this run: checked to appear in no output
fail() { echo "try-provision-chroot: FAILED: $*" >&2; exit 1; }
show() { echo "+ $*"; }  # what is run, as the record shows it

[ "$(id -u)" = 0 ] || fail "run as root (debootstrap, chroot, mount)"
for tool in debootstrap git curl; do command -v "$tool" >/dev/null || fail "$tool is not installed"; done
[ -x "$HERE/.venv/bin/orge" ] || fail "no $HERE/.venv: run scripts/setup (the demo CSMS runs from it)"
[ ! -e "$DIR" ] || fail "$DIR exists: give a new --dir"
for port in 8000 "$CSMS_PORT"; do
  ! curl -s -o /dev/null "http://127.0.0.1:$port/" || fail "port $port on 127.0.0.1 is in use"
done
DIR=$(realpath -m "$DIR")
WORK=$(mktemp -d)  # outside the chroot: the CSMS's configuration, the logs
PIDS=()

cleanup() {
  local status=$? pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  # Anything still running inside the chroot (the station, were runuser to leave it) holds
  # its mounts: those processes, by their own root, one by one.
  for proc in /proc/[0-9]*; do
    [ "$(readlink "$proc/root" 2>/dev/null)" = "$DIR" ] || continue
    echo "try-provision-chroot: stopping ${proc#/proc/}, left running in $DIR" >&2
    kill -TERM "${proc#/proc/}" 2>/dev/null || true
  done
  sleep 1
  # The mounts first, innermost first; nothing is removed while one is left.
  for mnt in dev/pts dev sys proc; do
    if mountpoint -q "$DIR/$mnt"; then umount "$DIR/$mnt" || true; fi
  done
  if grep -q " $DIR/" /proc/mounts; then
    echo "try-provision-chroot: still mounted under $DIR; not removed" >&2
  elif [ "$KEEP" = 0 ] && [ -d "$DIR" ]; then
    rm -rf --one-file-system -- "$DIR"
  fi
  rm -rf -- "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A clean environment inside, as a root login has. An array, not a function: `"${IN_CHROOT[@]}"
# cmd &` makes $! the process itself (each of chroot, env, sh execs the next), which the
# station's SIGTERM must reach; a function would put a subshell in between.
IN_CHROOT=(chroot "$DIR" /usr/bin/env -i
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8)
in_chroot() { "${IN_CHROOT[@]}" "$@"; }

echo "== 1. a fresh Debian 12 (bookworm, minbase) in $DIR"
show debootstrap --variant=minbase bookworm "$DIR" "$MIRROR"
debootstrap --variant=minbase bookworm "$DIR" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -20 "$WORK/debootstrap.log"; fail "debootstrap"; }
tail -1 "$WORK/debootstrap.log"
mount -t proc proc "$DIR/proc"
mount -t sysfs sys "$DIR/sys"
mount --bind /dev "$DIR/dev"
mount --bind /dev/pts "$DIR/dev/pts"
echo "Debian $(cat "$DIR/etc/debian_version"); python3: $(in_chroot sh -c 'command -v python3 || echo none'); systemd: $(in_chroot sh -c 'command -v systemctl || echo none')"

echo "== 2. the checkout, its wheel, the fleet's env file"
mkdir -p "$DIR/root/orge" "$DIR/root/wheels"
show "git archive HEAD ($(git -C "$HERE" rev-parse --short HEAD)) | tar -C $DIR/root/orge -x"
git -C "$HERE" archive HEAD | tar -C "$DIR/root/orge" -xf -
show pip wheel --no-deps -w "$DIR/root/wheels" "$DIR/root/orge"
"$HERE/.venv/bin/python" -m pip wheel --quiet --no-deps -w "$DIR/root/wheels" "$DIR/root/orge" \
  >"$WORK/wheel.log" 2>&1 || { tail -20 "$WORK/wheel.log"; fail "building the wheel"; }
rm -rf "$DIR/root/orge/build" "$DIR/root/orge"/*.egg-info
WHEEL=$(cd "$DIR/root/wheels" && ls orge-*.whl)
echo "/root/wheels/$WHEEL"
(
  umask 077
  printf '%s\n' "OCPP_STATION_NAME=$STATION" "OCPP_STATION_PASSWORD=$PASSWORD" "OCPP_PRIMARY=201" \
    "OCPP_201_URL=ws://127.0.0.1:$CSMS_PORT/ocpp/$STATION" \
    "OCPP_16_URL=ws://127.0.0.1:$CSMS_PORT/ocpp/$STATION" "OCPP_HEARTBEAT_SECONDS=60" \
    >"$DIR$ENV_FILE"
)
echo "$ENV_FILE: $(cut -d= -f1 "$DIR$ENV_FILE" | tr '\n' ' ')(mode $(stat -c %a "$DIR$ENV_FILE"))"
PIP_ENV=()
if [ ${#CAS[@]} -gt 0 ]; then
  cat "${CAS[@]}" >"$DIR/root/pip-ca.pem"
  PIP_ENV=(PIP_CERT=/root/pip-ca.pem)
  echo "pip trusts: ${CAS[*]} (PIP_CERT=/root/pip-ca.pem)"
fi

echo "== 3. the demo CSMS on 127.0.0.1:$CSMS_PORT"
mkdir -p "$WORK/csms"
printf 'logger:\n  default: warning\n  logs:\n    components.demo_csms: info\n    components.demo_csms.wire: info\ndemo_csms:\n  port: %s\n' \
  "$CSMS_PORT" >"$WORK/csms/configuration.yaml"
show orge run -c "$WORK/csms"
"$HERE/.venv/bin/orge" run -c "$WORK/csms" >"$WORK/csms.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 60); do grep -q "Demo CSMS listening" "$WORK/csms.log" && break; sleep 0.5; done
grep -q "Demo CSMS listening" "$WORK/csms.log" || { cat "$WORK/csms.log"; fail "the demo CSMS did not start"; }

PROVISION=(bash /root/orge/deploy/provision.sh --env-file "$ENV_FILE" --wheel "/root/wheels/$WHEEL")
for run in 1 2; do
  echo "== 4.$run provision.sh, run $run"
  show "${PROVISION[@]}"
  status=0
  in_chroot "${PIP_ENV[@]}" "${PROVISION[@]}" >"$WORK/provision-$run.log" 2>&1 || status=$?
  cat "$WORK/provision-$run.log"
  echo "(exit $status)"
  [ "$status" = 0 ] || fail "provision.sh run $run exited $status"
done
grep -q "^Provisioned: " "$WORK/provision-1.log" || fail "run 1 did not provision"
grep -q "^Nothing changed: the station was already provisioned.$" "$WORK/provision-2.log" \
  || fail "run 2 changed something"
! grep -q ": changed:" "$WORK/provision-2.log" || fail "run 2 changed something"
grep -q "^Not started (systemd is not running): orge.service" "$WORK/provision-2.log" \
  || fail "provision.sh did not say that orge.service was not started"

echo "== 5. the station, started as orge.service starts it"
UNIT=$DIR/etc/systemd/system/orge.service
mapfile -t UNIT_ENV < <(sed -n 's/^Environment=//p' "$UNIT")
read -ra EXEC <<<"$(sed -n 's/^ExecStart=//p' "$UNIT")"  # no quoting in it: words
USER_=$(sed -n 's/^User=//p' "$UNIT")
UMASK=$(sed -n 's/^UMask=//p' "$UNIT")
WORKDIR=$(sed -n 's/^WorkingDirectory=//p' "$UNIT")
# CacheDirectory=: systemd makes /var/cache/<name> for the service's user at each start
# (the compiled modules of `python -OO`, PYTHONPYCACHEPREFIX); no systemd here, so as it does
while read -r cache; do
  [ -n "$cache" ] || continue
  show "install -d -o $USER_ -g $USER_ -m 0755 /var/cache/$cache   # CacheDirectory=$cache"
  "${IN_CHROOT[@]}" install -d -o "$USER_" -g "$USER_" -m 0755 "/var/cache/$cache"
done < <(sed -n 's/^CacheDirectory=//p' "$UNIT")
# Type=notify: a datagram socket standing in for systemd's, to see READY=1 arrive.
cat >"$DIR/root/notify.py" <<'EOF'
import os, socket, sys
path = sys.argv[1]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
os.chmod(path, 0o666)
while True:
    print(sock.recv(4096).decode(), flush=True)
EOF
"${IN_CHROOT[@]}" python3 /root/notify.py /run/orge-notify.sock >"$WORK/notify.log" 2>&1 &
PIDS+=($!)
sleep 1
# The EnvironmentFile= values are exported by the shell (never on a command line, where ps
# shows them); the unit's Environment= lines and NOTIFY_SOCKET are the env arguments.
show "cd $WORKDIR && umask $UMASK && set -a && . $ENV_FILE && set +a &&" \
  "runuser -u $USER_ -- env NOTIFY_SOCKET=/run/orge-notify.sock ${UNIT_ENV[*]} ${EXEC[*]}"
# shellcheck disable=SC2016  # $1.. are the inner shell's
"${IN_CHROOT[@]}" sh -c 'cd "$1" && umask "$2" && set -a && . "$3" && set +a && shift 4 && exec "$@"' \
  sh "$WORKDIR" "$UMASK" "$ENV_FILE" - \
  runuser -u "$USER_" -- env NOTIFY_SOCKET=/run/orge-notify.sock "${UNIT_ENV[@]}" "${EXEC[@]}" \
  >"$WORK/station.log" 2>&1 &
STATION_PID=$!
PIDS+=("$STATION_PID")
for _ in $(seq 120); do grep -q "READY=1" "$WORK/notify.log" && break; sleep 0.5; done
grep -q "READY=1" "$WORK/notify.log" || { cat "$WORK/station.log"; fail "no READY=1 in 60 s"; }
echo "notify socket: $(grep -m1 READY=1 "$WORK/notify.log")"
show curl -s http://127.0.0.1:8000/api/health
health=$(curl -s http://127.0.0.1:8000/api/health)
echo "$health"
grep -q '"status": *"ok"' <<<"$health" || fail "/api/health is not ok"
for _ in $(seq 30); do
  [ "$(grep -c "Station $STATION connected" "$WORK/csms.log")" -ge 3 ] \
    && grep -q "BootNotification" "$WORK/csms.log" && break
  sleep 1
done
echo "the CSMS saw (its log, trimmed):"
grep -E "Station $STATION (connected|disconnected)|BootNotification" "$WORK/csms.log" \
  | sed -E 's/"password": *"[^"]*"/"password": "***"/' | sed -E 's/^[0-9-]+ ([0-9:.]+) \w+ \([^)]*\) /\1 /' | cut -c1-160
[ "$(grep -c "Station $STATION connected" "$WORK/csms.log")" -ge 3 ] \
  || fail "the CSMS did not see the station (2 x orge once, then orge run)"
echo "the station's log (its first lines):"
head -5 "$WORK/station.log" | cut -c1-160
show "stat, id (inside the chroot)"
in_chroot sh -c 'stat -c "%A %U:%G %n" /etc/orge /etc/orge/config /etc/orge/config/configuration.yaml \
  /etc/orge/config/.storage /etc/orge/config/.storage/* '"$ENV_FILE"' /opt/orge/current /usr/local/bin/orge; id orge' \
  | tee "$WORK/modes.txt"
grep -q "^drwx------ orge:orge /etc/orge/config/.storage$" "$WORK/modes.txt" || fail ".storage is not 0700 orge"
! grep -E " /etc/orge/config/.storage/" "$WORK/modes.txt" | grep -v "^-rw------- orge:orge \|^drwx------ orge:orge " \
  || fail "a file in .storage is not 0600 (a folder 0700) owned by orge"
grep -q "^-rw------- root:root $ENV_FILE$" "$WORK/modes.txt" || fail "$ENV_FILE is not 0600 root"
grep -q "^-rw-r--r-- root:root /etc/orge/config/configuration.yaml$" "$WORK/modes.txt" \
  || fail "configuration.yaml is not 0644 root"
grep -q "(dialout)" "$WORK/modes.txt" || fail "orge is not in dialout"
# `python -OO` (ExecStart=) wrote its compiled modules, docstring-free, to the cache only
show "find /var/cache/orge -name '*.pyc'"
compiled=$(in_chroot find /var/cache/orge -name '*.pyc' | wc -l)
plain=$(in_chroot find /var/cache/orge -name '*.pyc' ! -name '*.opt-2.pyc' | wc -l)
echo "$compiled compiled modules in /var/cache/orge, $plain of them with docstrings"
[ "$compiled" -gt 100 ] && [ "$plain" = 0 ] || fail "the -OO modules are not in the unit's cache"

echo "== 6. stop"
show kill -TERM "$STATION_PID"
kill -TERM "$STATION_PID"
status=0
wait "$STATION_PID" || status=$?
# runuser passes the signal on to ORGE, waits for it, and then ends itself by SIGTERM (143,
# "Session terminated"): ORGE's own log says whether it stopped cleanly.
echo "(runuser exit $status)"
grep -E "Received SIGTERM|ORGE stopped" "$WORK/station.log" | cut -c1-160
grep -q "ORGE stopped" "$WORK/station.log" || fail "the station did not stop cleanly on SIGTERM"
for log in "$WORK"/*.log; do
  ! grep -q "$PASSWORD" "$log" || fail "the station password appears in $(basename "$log")"
done
echo "the station password appears in no output; every check passed"
