#!/usr/bin/env bash
# Provision an ORGE station from one env file. `deploy/provision.sh --help`; docs/operations.md.
set -euo pipefail
umask 022
# The installed ORGE runs its own code; a PYTHONPATH from the caller would put other first.
unset PYTHONPATH PYTHONHOME

usage() {
  cat <<'EOF'
Usage: deploy/provision.sh --env-file FILE (--version TAG | --wheel FILE) [options]
       deploy/provision.sh --env-file FILE --dry-run [--version TAG | --wheel FILE] [options]

Takes a Raspberry Pi OS (Debian 12) system to a running ORGE station, in 9 steps:
  1 env file     check FILE: OCPP_STATION_NAME and OCPP_STATION_PASSWORD set, URLs and
                 numbers well formed (the fleet's /etc/ocpp_station.env works unchanged)
  2 packages     apt-get update, apt-get install python3 python3-venv git systemd
                 ca-certificates (those missing; python3 first when step 1 needs it)
  3 user         the service user `orge`, in group dialout (the serial port)
  4 ORGE         the pinned version into its own venv: /opt/orge/releases/<version>/,
                 /opt/orge/current -> it (the layout `orge update` works on),
                 /usr/local/bin/orge -> /opt/orge/current/bin/orge
  5 config       /etc/orge/config/ from --config-from (kept if it is there already),
                 its .storage/ owned by `orge`
  6 station env  FILE copied to /etc/orge/station.env (0600), unless FILE is already
                 /etc/ocpp_station.env or /etc/orge/station.env
  7 check        `orge check-config` of the configuration with the env file's values
  8 CSMS         `orge once`: boot, status, heartbeat against the CSMS, then disconnect
  9 units        orge.service, orge-update.path (+ orge-update.service, which it starts;
                 OCPP firmware updates) and ngrok.service when NGROK_AUTHTOKEN is set, installed
                 into /etc/systemd/system, enabled and started (only enabled when systemd
                 is not running, in a chroot: said so, never claimed running)

Every step says `changed`, `unchanged`, `ok` (a check passed) or `skipped`; a second run changes nothing and
ends with "Nothing changed". No value from the env file is ever printed.

Options:
  --env-file FILE     the station's env file (required)
  --version TAG       install this tag of the git repository --repo
  --wheel FILE        install this ORGE wheel
  --sha256 HEX        the wheel's SHA-256 as the release notes publish it: checked
                      before anything is installed (a mismatch installs nothing)
  --repo DIR          git repository holding the tags (default: the one this script is in)
  --config-from DIR   configuration to install when there is none (default: its config/)
  --root DIR          work under DIR instead of /: every path (/opt/orge, /etc/orge,
                      /etc/systemd/system) is put under DIR. Steps that need the running
                      system (apt-get, useradd, chown, systemctl) are not run; each is
                      printed as `skipped (--root): <the command>`. Needs no root.
  --dry-run           change nothing: list the steps, check the env file and the
                      configuration (with the installed ORGE, else this checkout's code:
                      its .venv from scripts/setup, or a python3 with ORGE's libraries);
                      no version is needed
  --no-once           skip step 8 (a station provisioned without its CSMS reachable)
  --python PY         Python for the venv and the checks (default: python3)
  --deps-from DIR     passed to `orge update`: libraries from that site-packages, nothing
                      fetched
  --wheelhouse DIR    passed to `orge update`: install dependencies from DIR only
  -h, --help          this text

Exit: 0 provisioned (or would be, with --dry-run); 1 a step failed (it is named); 2 usage.
EOF
}

die() { echo "provision: $*" >&2; exit 1; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENV_FILE="" VERSION="" WHEEL="" REPO="$HERE" CONFIG_FROM="$HERE/config" ROOT="" DRY=0 ONCE=1
PYTHON=python3 DEPS_FROM="" WHEELHOUSE="" SHA256=""
while [ $# -gt 0 ]; do
  case "$1" in
    --env-file) ENV_FILE=${2:?}; shift 2 ;;
    --version) VERSION=${2:?}; shift 2 ;;
    --wheel) WHEEL=${2:?}; shift 2 ;;
    --sha256) SHA256=${2:?}; shift 2 ;;
    --repo) REPO=${2:?}; shift 2 ;;
    --config-from) CONFIG_FROM=${2:?}; shift 2 ;;
    --root) ROOT=${2:?}; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    --no-once) ONCE=0; shift ;;
    --python) PYTHON=${2:?}; shift 2 ;;
    --deps-from) DEPS_FROM=${2:?}; shift 2 ;;
    --wheelhouse) WHEELHOUSE=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "provision: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$ENV_FILE" ] || { echo "provision: --env-file FILE is required (see --help)" >&2; exit 2; }
if [ -n "$VERSION" ] && [ -n "$WHEEL" ]; then
  echo "provision: give --version TAG or --wheel FILE, not both" >&2; exit 2
fi
if [ -z "$VERSION" ] && [ -z "$WHEEL" ] && [ "$DRY" = 0 ]; then
  echo "provision: give the version to install: --version TAG or --wheel FILE" >&2; exit 2
fi
if [ -n "$ROOT" ]; then
  mkdir -p "$ROOT" 2>/dev/null || [ "$DRY" = 1 ] || die "cannot create --root $ROOT"
  ROOT=$(cd "$ROOT" 2>/dev/null && pwd || echo "$ROOT")
fi
R=${ROOT%/}
PREFIX=$R/opt/orge
CONFIG=$R/etc/orge/config
STATION_ENV=$R/etc/orge/station.env
UNITS=$R/etc/systemd/system
SERVICE_USER=orge

CHANGES=0 STEP=0
step() { STEP=$((STEP + 1)); CURRENT="[$STEP/9] $1"; }
say() { echo "$CURRENT: $*"; }
changed() { CHANGES=$((CHANGES + 1)); say "changed: $*"; }
unchanged() { say "unchanged: $*"; }
would() { say "would $*"; }
ok() { say "ok: $*"; }
# A command that needs the real system: run it (returns 0), or under --root / --dry-run
# print it (returns 1). A failure stops provisioning with the command and its last output
# lines: `if system ...` must never pass a failed apt-get or useradd by in silence.
system() {
  if [ -n "$R" ]; then say "skipped (--root): $*"; return 1; fi
  if [ "$DRY" = 1 ]; then would "run: $*"; return 1; fi
  local out status=0
  out=$("$@" 2>&1) || status=$?
  [ "$status" = 0 ] || die "$CURRENT: \`$*\` failed (exit $status):"$'\n'"$(tail -n 20 <<<"$out")"
}
# Packages: the lists first, as a fresh image's are missing or stale (apt-get would not
# find the packages, or fetch files the mirror no longer has).
apt_install() {
  system apt-get update -q || { system apt-get install -y -q "$@"; return 1; }
  system env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

# --- 1. the env file ------------------------------------------------------------------
# Parsed exactly as systemd reads EnvironmentFile= (deploy/envfile.py: quotes, backslashes,
# comments, trailing blanks), never sourced: a value is data, not shell, and is never printed.
step "env file"
[ -f "$ENV_FILE" ] || die "$CURRENT: $ENV_FILE: no such file"
[ -r "$ENV_FILE" ] || die "$CURRENT: $ENV_FILE: not readable (run as root?)"
# The env file is read by Python (below), which a minimal Debian does not have yet.
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  [ "$PYTHON" = python3 ] && [ -z "$R" ] && [ "$DRY" = 0 ] \
    || die "$CURRENT: $PYTHON: not found; it reads the env file (install python3, or give --python PY)"
  say "python3 reads the env file and is not installed: installing it first"
  apt_install python3
  changed "installed python3"
fi
declare -A ENV=()
parsed=$(mktemp)
if ! envfile_errors=$("$PYTHON" "$HERE/deploy/envfile.py" "$ENV_FILE" 2>&1 >"$parsed"); then
  rm -f "$parsed"
  die "$CURRENT: $envfile_errors"
fi
while IFS= read -r -d '' key && IFS= read -r -d '' value; do
  ENV[$key]=$value
done < "$parsed"
rm -f "$parsed"
for name in OCPP_STATION_NAME OCPP_STATION_PASSWORD; do
  [ -n "${ENV[$name]:-}" ] || die "$CURRENT: $ENV_FILE does not set $name (required)"
done
[[ "${ENV[OCPP_STATION_NAME]}" =~ ^[A-Za-z0-9*_=+.|@-]{1,48}$ ]] \
  || die "$CURRENT: $ENV_FILE: OCPP_STATION_NAME must be 1-48 characters of A-Z a-z 0-9 *-_=+|@. (OCPP identifierString)"
for name in OCPP_201_URL OCPP_16_URL; do
  value=${ENV[$name]:-}
  [ -z "$value" ] || [[ "$value" =~ ^wss?://[^[:space:]]+$ ]] \
    || die "$CURRENT: $ENV_FILE: $name must be a ws:// or wss:// URL"
done
[ -n "${ENV[OCPP_201_URL]:-}${ENV[OCPP_16_URL]:-}" ] \
  || say "warning: neither OCPP_201_URL nor OCPP_16_URL is set; the configuration's defaults apply"
case "${ENV[OCPP_PRIMARY]:-201}" in 201|16) ;; *) die "$CURRENT: $ENV_FILE: OCPP_PRIMARY must be 201 or 16" ;; esac
[[ "${ENV[OCPP_HEARTBEAT_SECONDS]:-60}" =~ ^[0-9]+$ ]] \
  || die "$CURRENT: $ENV_FILE: OCPP_HEARTBEAT_SECONDS must be a whole number of seconds"
mode=$(stat -c %a "$ENV_FILE")
[[ "$mode" =~ [0-7][0-7]0$ ]] || say "warning: $ENV_FILE is readable by every user (mode $mode); it holds the station password: chmod 600"
ok "$ENV_FILE is valid: $(printf '%s\n' "${!ENV[@]}" | sort | tr '\n' ' ')"

# Run a command with the env file's values in its environment (exported in a subshell:
# never on a command line, where `ps` would show the password).
with_env() (
  for key in "${!ENV[@]}"; do export "$key=${ENV[$key]}"; done
  "$@"
)

# --- 2. packages ----------------------------------------------------------------------
step "packages"
missing=()
# systemd and ca-certificates come with Raspberry Pi OS, not with a minimal Debian: the
# units need systemctl, and the unit's SSL_CERT_DIR=/etc/ssl/certs the CAs (wss:// CSMS).
packages=(python3 python3-venv git systemd ca-certificates)
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} = 0 ]; then unchanged "${packages[*]} are installed"
elif apt_install "${missing[@]}"; then changed "installed ${missing[*]}"; fi

# --- 3. the service user --------------------------------------------------------------
step "user"
if [ -z "$R" ] && id "$SERVICE_USER" >/dev/null 2>&1; then
  if id -nG "$SERVICE_USER" | grep -qw dialout; then unchanged "user $SERVICE_USER in dialout"
  elif system usermod -a -G dialout "$SERVICE_USER"; then changed "added $SERVICE_USER to dialout"; fi
elif system useradd --system --user-group --groups dialout --home-dir /nonexistent \
    --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"; then
  changed "created the system user $SERVICE_USER (groups dialout)"
fi

# --- 4. ORGE at the pinned version ----------------------------------------------------
step "ORGE"
if [ -z "$VERSION$WHEEL" ]; then
  source_arg="(the --version TAG or --wheel FILE to give)"
elif [ -n "$WHEEL" ]; then
  [ -f "$WHEEL" ] || die "$CURRENT: $WHEEL: no such wheel file"
  source_arg=$(cd "$(dirname "$WHEEL")" && pwd)/$(basename "$WHEEL")
else
  git -C "$REPO" rev-parse --verify --quiet "refs/tags/$VERSION^{commit}" >/dev/null \
    || die "$CURRENT: no tag $VERSION in the git repository $REPO"
  source_arg=$VERSION
fi
# The installer is orge/update.py of this checkout (standard library only): the same code
# `orge update` runs later, so a provisioned station has the layout updates expect.
update_args=(--prefix "$PREFIX" --repo "$REPO" --python "$PYTHON")
[ -n "$DEPS_FROM" ] && update_args+=(--deps-from "$DEPS_FROM")
[ -n "$WHEELHOUSE" ] && update_args+=(--wheelhouse "$WHEELHOUSE")
if [ -n "$SHA256" ]; then
  [ -n "$WHEEL" ] || die "$CURRENT: --sha256 checks a wheel: give --wheel FILE"
  [[ $SHA256 =~ ^[0-9A-Fa-f]{64}$ ]] || die "$CURRENT: --sha256: not 64 hexadecimal digits"
  update_args+=(--sha256 "$SHA256")
fi
live=$(readlink "$PREFIX/current" 2>/dev/null || true)
if [ "$DRY" = 1 ]; then
  if [ -n "$live" ]; then would "install $source_arg beside the live ${live#releases/} (nothing if it is that one)"
  else would "install $source_arg into $PREFIX/releases/ and point $PREFIX/current at it"; fi
else
  mkdir -p "$PREFIX"
  out=$(PYTHONPATH="$HERE" "$PYTHON" -m orge.update --install-only "$source_arg" "${update_args[@]}" 2>&1) \
    || die "$CURRENT: installing ORGE failed: $out"
  if grep -q '^unchanged:' <<<"$out"; then unchanged "${out##*unchanged: }"
  elif [ -n "$live" ]; then
    say "installed beside the live ${live#releases/}; switch with \`orge update --to $source_arg\`"
    CHANGES=$((CHANGES + 1))
  else changed "$(tail -1 <<<"$out")"; fi
fi
ORGE_BIN=$PREFIX/current/bin/orge
# `orge` on the PATH follows the live release (`sudo orge update ...`, `orge check-config`).
link=$R/usr/local/bin/orge
if [ "$(readlink "$link" 2>/dev/null)" = /opt/orge/current/bin/orge ]; then unchanged "$link"
elif [ "$DRY" = 1 ]; then would "link $link -> /opt/orge/current/bin/orge"
else
  mkdir -p "$(dirname "$link")"
  ln -sfn /opt/orge/current/bin/orge "$link"
  changed "$link -> /opt/orge/current/bin/orge"
fi

# --- 5. the configuration -------------------------------------------------------------
step "config"
[ -f "$CONFIG_FROM/configuration.yaml" ] || die "$CURRENT: $CONFIG_FROM has no configuration.yaml"
if [ -f "$CONFIG/configuration.yaml" ]; then
  if diff -rq -x .storage "$CONFIG_FROM" "$CONFIG" >/dev/null 2>&1; then unchanged "$CONFIG"
  else unchanged "$CONFIG kept: it differs from $CONFIG_FROM, and the station's own files win"; fi
elif [ "$DRY" = 1 ]; then would "copy $CONFIG_FROM to $CONFIG"
else
  mkdir -p "$CONFIG"
  # .storage/ is a station's own state (tokens, journal, database): never copied. Owned by
  # root with this script's umask (0644/0755), not the checkout's owner and modes: tar run by
  # root keeps both, and a checkout (git archive's 0664, a user's clone) would leave the
  # station's configuration writable by that user or group.
  tar -C "$CONFIG_FROM" --exclude=./.storage -cf - . \
    | tar -C "$CONFIG" --no-same-owner --no-same-permissions -xf -
  changed "copied $CONFIG_FROM to $CONFIG"
fi
if [ -d "$CONFIG/.storage" ]; then unchanged "$CONFIG/.storage exists"
elif [ "$DRY" = 1 ]; then would "create $CONFIG/.storage (mode 0700)"
else install -d -m 0700 "$CONFIG/.storage"; changed "created $CONFIG/.storage"; fi
# ProtectSystem=strict leaves ORGE only .storage/ to write: it must own it.
if [ -z "$R" ] && [ "$DRY" = 0 ] && [ "$(stat -c %U "$CONFIG/.storage")" = "$SERVICE_USER" ]; then
  unchanged "$CONFIG/.storage owned by $SERVICE_USER"
elif system chown -R "$SERVICE_USER:$SERVICE_USER" "$CONFIG/.storage"; then
  changed "$CONFIG/.storage owned by $SERVICE_USER"
fi

# --- 6. the station's env file --------------------------------------------------------
step "station env"
env_real=$(realpath -m "$ENV_FILE")
if [ "$env_real" = "$(realpath -m "$R/etc/ocpp_station.env")" ] || [ "$env_real" = "$(realpath -m "$STATION_ENV")" ]; then
  unchanged "$ENV_FILE is where orge.service reads it (EnvironmentFile=)"
elif cmp -s "$ENV_FILE" "$STATION_ENV" && [ "$(stat -c %a "$STATION_ENV")" = 600 ]; then
  unchanged "$STATION_ENV"
elif [ "$DRY" = 1 ]; then would "copy $ENV_FILE to $STATION_ENV (mode 0600)"
else
  install -D -m 0600 "$ENV_FILE" "$STATION_ENV"
  changed "copied $ENV_FILE to $STATION_ENV (mode 0600)"
fi

# --- 7. check-config ------------------------------------------------------------------
step "check"
check_dir=$CONFIG
[ -f "$CONFIG/configuration.yaml" ] || check_dir=$CONFIG_FROM
if [ -x "$ORGE_BIN" ]; then check=("$ORGE_BIN" check-config -c "$check_dir")
elif [ -x "$HERE/.venv/bin/python" ]; then  # this checkout, set up by scripts/setup
  check=(env PYTHONPATH="$HERE" "$HERE/.venv/bin/python" -m orge check-config -c "$check_dir")
elif PYTHONPATH="$HERE" "$PYTHON" -c 'import yaml, voluptuous, aiohttp' 2>/dev/null; then
  check=(env PYTHONPATH="$HERE" "$PYTHON" -m orge check-config -c "$check_dir")
else check=(); fi
if [ ${#check[@]} = 0 ]; then
  say "skipped: no ORGE installed yet to check $check_dir with (a --dry-run on a fresh system)"
elif out=$(with_env "${check[@]}" 2>&1); then ok "$(tail -1 <<<"$out")"
else die "$CURRENT: orge check-config found problems:"$'\n'"$out"; fi

# --- 8. the CSMS ----------------------------------------------------------------------
step "CSMS"
# As the service user on a station: what `orge once` writes in .storage/ (its lock, the
# OCPP journal) must stay the service's to write.
as_user=()
if [ -z "$R" ] && [ "$(id -u)" = 0 ]; then as_user=(runuser -u "$SERVICE_USER" --); fi
if [ "$ONCE" = 0 ]; then say "skipped (--no-once)"
elif [ "$DRY" = 1 ]; then would "run: orge once -c $CONFIG (boot, status, heartbeat)"
# With the unit's UMask=0077: what it writes in .storage/ is the service's alone (0600).
elif out=$(umask 077 && with_env "${as_user[@]}" "$ORGE_BIN" once -c "$CONFIG" 2>&1); then
  ok "orge once: the CSMS accepted ${ENV[OCPP_STATION_NAME]}"
else die "$CURRENT: orge once did not reach the CSMS:"$'\n'"$out"; fi

# --- 9. the units ---------------------------------------------------------------------
step "units"
units=(orge.service)
[ -n "${ENV[NGROK_AUTHTOKEN]:-}" ] && units+=(ngrok.service)
# OCPP firmware updates: the station's request file starts the root unit that runs
# `orge update` (installed, not started: orge-update.path starts it)
units+=(orge-update.path)
unit_changed=0
for unit in "${units[@]}" orge-update.service; do
  if cmp -s "$HERE/deploy/$unit" "$UNITS/$unit"; then unchanged "$UNITS/$unit"
  elif [ "$DRY" = 1 ]; then would "install $UNITS/$unit"
  else install -D -m 0644 "$HERE/deploy/$unit" "$UNITS/$unit"; unit_changed=1; changed "installed $UNITS/$unit"; fi
done
if [ -n "${ENV[NGROK_AUTHTOKEN]:-}" ]; then
  ngrok_yml=$'version: "2"\nweb_addr: 127.0.0.1:4040\ntunnels:\n  station:\n    proto: http\n    addr: 8000'
  [ -n "${ENV[NGROK_DOMAIN]:-}" ] && ngrok_yml+=$'\n'"    domain: ${ENV[NGROK_DOMAIN]}"
  if [ "$(cat "$R/etc/orge/ngrok.yml" 2>/dev/null)" = "$ngrok_yml" ]; then unchanged "$R/etc/orge/ngrok.yml"
  elif [ "$DRY" = 1 ]; then would "write $R/etc/orge/ngrok.yml (the tunnel to port 8000; no token)"
  else mkdir -p "$R/etc/orge"; printf '%s\n' "$ngrok_yml" > "$R/etc/orge/ngrok.yml"; changed "wrote $R/etc/orge/ngrok.yml"; fi
fi
# systemd as PID 1 or not (sd_booted(3): /run/systemd/system exists): in a chroot or an
# image being prepared, `systemctl enable` works (it makes the links) but nothing can be
# started: said so, never counted as running.
# Any change above (a unit, the env file, the configuration, the user's groups) reaches a
# running service only through a restart.
changes_before=$CHANGES
booted=1
if [ -z "$R" ] && [ "$DRY" = 0 ] && [ ! -d /run/systemd/system ]; then
  booted=0
  say "systemd is not running here (a chroot, or an image being prepared): the units are enabled, not started"
fi
if [ "$unit_changed" = 1 ] && [ "$booted" = 1 ]; then system systemctl daemon-reload || true; fi
not_started=()
for unit in "${units[@]}"; do
  name=${unit%.service}
  if [ -z "$R" ] && [ "$DRY" = 0 ] && systemctl is-enabled --quiet "$unit" 2>/dev/null; then
    unchanged "$name enabled"
  elif system systemctl enable "$name"; then changed "$name enabled"; fi
  if [ "$booted" = 0 ]; then
    not_started+=("$unit")
    say "not started: $name (it starts at the next boot with systemd)"
  elif [ -z "$R" ] && [ "$DRY" = 0 ] && [ "$changes_before" = 0 ] \
      && systemctl is-active --quiet "$unit"; then
    unchanged "$name running"
  elif system systemctl restart "$name"; then
    systemctl is-active --quiet "$unit" \
      || die "$CURRENT: $name is not running after its restart: systemctl status $name; journalctl -u $name"
    changed "$name (re)started, running"
  fi
done

if [ "$DRY" = 1 ]; then echo "Dry run: nothing was changed."
elif [ "$CHANGES" = 0 ]; then echo "Nothing changed: the station was already provisioned."
else echo "Provisioned: $CHANGES change(s)."; fi
if [ ${#not_started[@]} -gt 0 ]; then
  echo "Not started (systemd is not running): ${not_started[*]}; they start at boot."
fi
