# shellcheck shell=bash
# Shared helpers for scripts/run and scripts/test. Source it, don't execute it.
#
# Everything here is idempotent and cheap when things are already in place:
# a second run does a few pings and hash comparisons and nothing else.

SHARESTACK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$SHARESTACK_ROOT/.venv"
VENV_PY="$VENV/bin/python"

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
# The venv is installed without bytecode (see ensure_venv), and the tests start many Python
# processes (pytest's workers, servers, job workers, CLI runs): with PYTHONDONTWRITEBYTECODE set,
# each one would compile everything it imports again. Bytecode goes to __pycache__ folders, which
# git ignores.
unset PYTHONDONTWRITEBYTECODE

# --------------------------------------------------------------------------
# Logging and phases
# --------------------------------------------------------------------------

if [ -t 2 ] && [ -z "${NO_COLOR:-}" ] && [ "${TERM:-dumb}" != dumb ]; then
  _C_BOLD=$'\e[1m' _C_RED=$'\e[31m' _C_GREEN=$'\e[32m' _C_YELLOW=$'\e[33m' _C_OFF=$'\e[0m'
else
  _C_BOLD='' _C_RED='' _C_GREEN='' _C_YELLOW='' _C_OFF=''
fi

log() { printf '%s==>%s %s\n' "$_C_BOLD" "$_C_OFF" "$*" >&2; }
warn() { printf '%swarning:%s %s\n' "$_C_YELLOW" "$_C_OFF" "$*" >&2; }
die() {
  printf '%serror:%s %s\n' "$_C_RED" "$_C_OFF" "$*" >&2
  exit 1
}

# Phases: `phase NAME` starts one, `phase_end STATUS [NOTE]` ends it with ok,
# FAILED or skipped and prints one line. A phase still open when the script
# exits (set -e, die) is recorded as FAILED by the EXIT trap.
_PHASES=()
_PHASE_NAME=''
_PHASE_T0=0
_PRINT_SUMMARY=0

phase() {
  _PHASE_NAME=$1
  _PHASE_T0=$SECONDS
  log "$1"
}

phase_end() {
  local status=$1 note=${2:-} secs=$((SECONDS - _PHASE_T0)) colour
  case $status in
    ok) colour=$_C_GREEN ;;
    skipped) colour=$_C_YELLOW ;;
    *) colour=$_C_RED ;;
  esac
  _PHASES+=("$status|$_PHASE_NAME|$secs|$note")
  printf '    %s%s%s: %s (%ss)%s\n' "$colour" "$status" "$_C_OFF" "$_PHASE_NAME" "$secs" \
    "${note:+ - $note}" >&2
  _PHASE_NAME=''
}

phase_skip() { # NAME NOTE: record a phase that did not run
  phase "$1"
  phase_end skipped "$2"
}

phases_failed() { # exit status 0 when some phase FAILED
  local p
  for p in "${_PHASES[@]}"; do
    [ "${p%%|*}" = FAILED ] && return 0
  done
  return 1
}

print_summary() {
  local p status name secs note colour
  [ "${#_PHASES[@]}" -gt 0 ] || return 0
  printf '\n%sSummary%s\n' "$_C_BOLD" "$_C_OFF" >&2
  for p in "${_PHASES[@]}"; do
    IFS='|' read -r status name secs note <<<"$p"
    case $status in
      ok) colour=$_C_GREEN ;;
      skipped) colour=$_C_YELLOW ;;
      *) colour=$_C_RED ;;
    esac
    printf '  %s%-7s%s %-34s %5ss%s\n' "$colour" "$status" "$_C_OFF" "$name" "$secs" \
      "${note:+  $note}" >&2
  done
  printf '  total %ss\n' "$SECONDS" >&2
}

_on_exit() {
  local rc=$?
  if [ -n "$_PHASE_NAME" ]; then
    phase_end FAILED "exit status $rc"
  fi
  if [ "$_PRINT_SUMMARY" = 1 ]; then
    print_summary
  fi
}
trap _on_exit EXIT

# --------------------------------------------------------------------------
# Root and packages
# --------------------------------------------------------------------------

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    printf 'error: needs root (and sudo is not installed): %s\n' "$*" >&2
    return 1
  fi
}

_APT_UPDATED=0
apt_install() { # PACKAGE...
  if ! command -v apt-get >/dev/null 2>&1; then
    printf 'error: %s missing and no apt-get here; install it yourself\n' "$*" >&2
    return 1
  fi
  log "installing Debian packages: $*"
  if [ "$_APT_UPDATED" = 0 ]; then
    as_root apt-get update -q || return 1
    _APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends "$@" </dev/null
}

# --------------------------------------------------------------------------
# Python virtualenv
# --------------------------------------------------------------------------

# Python 3.12 or newer: among other things, the test run measures coverage through
# sys.monitoring (PEP 669), which costs a fraction of what a trace function does.
_python_ok() { # PYTHON: is it runnable and >= 3.12?
  "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1
}

_pick_python() {
  local py root
  # pyenv keeps interpreters its shims do not expose unless selected; look at them too.
  root=$(pyenv root 2>/dev/null) || root=${PYENV_ROOT:-$HOME/.pyenv}
  for py in "${PYTHON:-python3}" python3 python3.12 python3.13 python3.14 \
    $(ls -d "$root"/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -V); do
    if command -v "$py" >/dev/null 2>&1 && _python_ok "$py"; then
      printf '%s\n' "$py"
      return 0
    fi
  done
  return 1
}

_pyproject_hash() {
  sha256sum "$SHARESTACK_ROOT/pyproject.toml" | cut -d' ' -f1
}

# Creates .venv if missing (or broken) and installs the project with its dev
# extras; reinstalls only when pyproject.toml changed since the last install.
ensure_venv() {
  local stamp="$VENV/.sharestack-pyproject.sha256" want py
  want=$(_pyproject_hash)
  if _python_ok "$VENV_PY" && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "virtualenv .venv is up to date"
    return 0
  fi

  if ! _python_ok "$VENV_PY"; then
    py=$(_pick_python) || die "Python >= 3.12 not found (set PYTHON=/path/to/python3.12)"
    log "creating virtualenv .venv with $py ($("$py" -V 2>&1))"
    # --clear replaces a .venv of an older Python (install stamp included), or one whose
    # interpreter is gone.
    "$py" -m venv --clear "$VENV" ||
      die "'$py -m venv' failed (on Debian's own Python: apt-get install python3-venv)"
  fi

  # One install at a time, even if scripts/run and scripts/test start together.
  (
    flock 9
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
    rm -f "$stamp"
    log "installing the project into .venv (pip install -e '.[dev]'; the first time takes a few minutes)"
    # --no-compile: Python writes bytecode as modules are first imported, for the ones used
    # (compiling every installed file up front took about as long as the install itself).
    cd "$SHARESTACK_ROOT" &&
      "$VENV_PY" -m pip install -q --no-compile -e '.[dev]' &&
      printf '%s\n' "$want" >"$stamp"
  ) 9>"$VENV/.sharestack-install.lock" || die "pip install -e '.[dev]' failed"
}

# --------------------------------------------------------------------------
# Generic service helpers
# --------------------------------------------------------------------------

tcp_open() { # HOST PORT: does something accept connections there?
  # shellcheck disable=SC2016 # $0 and $1 expand in the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" >/dev/null 2>&1
}

wait_until() { # SECONDS DESCRIPTION COMMAND...: poll once a second
  local limit=$1 what=$2 start=$SECONDS
  shift 2
  until "$@"; do
    if ((SECONDS - start >= limit)); then
      printf 'error: %s did not come up within %ss\n' "$what" "$limit" >&2
      return 1
    fi
    sleep 1
  done
}

# --------------------------------------------------------------------------
# MariaDB
# --------------------------------------------------------------------------

mysql_client() { command -v mariadb || command -v mysql; }
mysql_admin() { command -v mariadb-admin || command -v mysqladmin; }

mariadb_server_bin() {
  local b
  for b in /usr/sbin/mariadbd /usr/sbin/mysqld; do
    if [ -x "$b" ]; then
      printf '%s\n' "$b"
      return 0
    fi
  done
  return 1
}

# Exit status 0 when a MariaDB/MySQL server answers on HOST:PORT. `ping`
# succeeds even when the login is refused, which is what we want here.
mariadb_answers() { # HOST PORT
  local admin
  if admin=$(mysql_admin); then
    "$admin" --no-defaults --connect-timeout=2 -h "$1" -P "$2" ping >/dev/null 2>&1
  else
    tcp_open "$1" "$2"
  fi
}

# Starts the machine's MariaDB (installing it first when it is missing).
start_mariadb() {
  local bin datadir
  if ! bin=$(mariadb_server_bin); then
    apt_install mariadb-server mariadb-client || return 1
    bin=$(mariadb_server_bin) || {
      echo 'error: mariadb-server installed but no mariadbd found' >&2
      return 1
    }
  fi
  as_root install -d -o mysql -g mysql -m 0755 /run/mysqld || return 1
  # A data directory that was never initialised (the package normally does it).
  datadir=$(as_root "$bin" --verbose --help 2>/dev/null | awk '$1 == "datadir" { print $2; exit }')
  if [ -n "$datadir" ] && [ ! -d "$datadir/mysql" ] && command -v mariadb-install-db >/dev/null; then
    log "initialising the MariaDB data directory $datadir"
    as_root mariadb-install-db --user=mysql --datadir="$datadir" >/dev/null || return 1
  fi
  log "starting MariaDB ($bin)"
  if command -v start-stop-daemon >/dev/null 2>&1; then
    as_root start-stop-daemon --start --oknodo --background --exec "$bin" -- --user=mysql
  elif command -v service >/dev/null 2>&1; then
    as_root service mariadb start
  else
    echo 'error: neither start-stop-daemon nor service found to start MariaDB' >&2
    return 1
  fi
}

ensure_mariadb() { # [HOST] [PORT]
  local host=${1:-127.0.0.1} port=${2:-3306}
  if mariadb_answers "$host" "$port"; then
    log "MariaDB answers on $host:$port"
  else
    [ "$host" = 127.0.0.1 ] || [ "$host" = localhost ] ||
      die "MariaDB does not answer on $host:$port (not a local address: start it yourself)"
    log "MariaDB does not answer on $host:$port"
    start_mariadb || die "could not start MariaDB"
    wait_until 60 "MariaDB on $host:$port" mariadb_answers "$host" "$port" ||
      die "MariaDB did not start; see /var/log/mysql/error.log"
    log "MariaDB answers on $host:$port"
  fi
  if ! mysql_client >/dev/null; then
    apt_install mariadb-client || die "could not install the MariaDB client"
  fi
}

# The project's own test account: sharestack_test / sharestack_test, with all
# privileges on the databases named sharestack_test_* and on nothing else.
# Touches no other user or database.
SHARESTACK_DB_USER=sharestack_test
SHARESTACK_DB_PASSWORD=sharestack_test

_db_user_sql() {
  local u=$SHARESTACK_DB_USER p=$SHARESTACK_DB_PASSWORD h
  for h in '%' localhost; do
    printf "CREATE USER IF NOT EXISTS '%s'@'%s' IDENTIFIED BY '%s';\n" "$u" "$h" "$p"
    printf "ALTER USER '%s'@'%s' IDENTIFIED BY '%s';\n" "$u" "$h" "$p"
    printf "GRANT ALL PRIVILEGES ON \`sharestack\\\\_test\\\\_%%\`.* TO '%s'@'%s';\n" "$u" "$h"
  done
}

_db_user_works() { # HOST PORT: can the test user log in and create its databases?
  "$1" --no-defaults --connect-timeout=5 -h "$2" -P "$3" \
    -u "$SHARESTACK_DB_USER" -p"$SHARESTACK_DB_PASSWORD" --batch --raw --skip-column-names \
    -e 'SHOW GRANTS' 2>/dev/null | grep -q 'sharestack\\_test\\_%'
}

ensure_db_user() { # [HOST] [PORT]
  local host=${1:-127.0.0.1} port=${2:-3306} client sql
  client=$(mysql_client) || die "no mariadb/mysql client found"
  # Already there with the right password and grants: nothing to do (and no
  # root login, so no sudo prompt for a developer who is not root).
  if _db_user_works "$client" "$host" "$port"; then
    log "MariaDB user $SHARESTACK_DB_USER is ready (databases sharestack_test_*)"
    return 0
  fi
  sql=$(_db_user_sql)
  # 1. root over the unix socket (how a fresh Debian MariaDB lets root in);
  # 2. root over TCP with no password (or whatever ~/.my.cnf says).
  log "creating or repairing the MariaDB user $SHARESTACK_DB_USER"
  if as_root "$client" --connect-timeout=5 -uroot --batch <<<"$sql" 2>/dev/null; then
    :
  elif "$client" --connect-timeout=5 -h "$host" -P "$port" -uroot --batch <<<"$sql"; then
    :
  else
    die "could not log in to MariaDB as root to create the $SHARESTACK_DB_USER user; as an admin, run:
$sql"
  fi
  _db_user_works "$client" "$host" "$port" ||
    die "$SHARESTACK_DB_USER cannot log in to $host:$port (or lacks its grants) after creating it"
  log "MariaDB user $SHARESTACK_DB_USER is ready (databases sharestack_test_*)"
}

# --------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------

redis_answers() { # HOST PORT
  [ "$(redis-cli -h "$1" -p "$2" ping 2>/dev/null)" = PONG ]
}

# Starts a throwaway-config redis-server on 127.0.0.1:PORT that keeps nothing
# on disk (the same command that starts the machine's own Redis).
start_redis() { # PORT
  local port=$1 dir logfile
  if ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server redis-tools || return 1
  fi
  if [ -d /var/lib/redis ] && [ -w /var/lib/redis ]; then
    dir=/var/lib/redis
  else
    dir=$(mktemp -d "${TMPDIR:-/tmp}/sharestack-redis.XXXXXX") || return 1
  fi
  if [ -d /var/log/redis ] && [ -w /var/log/redis ]; then
    logfile=/var/log/redis/ci.log
    [ "$port" = 6379 ] || logfile=/var/log/redis/ci-$port.log
  else
    logfile=$dir/redis-$port.log
  fi
  log "starting redis-server on 127.0.0.1:$port (log: $logfile)"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$port" --save '' --appendonly no \
    --dir "$dir" --logfile "$logfile" --pidfile "$dir/redis-$port.pid"
}

ensure_redis() { # [HOST] [PORT]
  local host=${1:-127.0.0.1} port=${2:-6379}
  if ! command -v redis-cli >/dev/null 2>&1; then
    apt_install redis-tools || die "could not install redis-cli"
  fi
  if redis_answers "$host" "$port"; then
    log "Redis answers on $host:$port"
    return 0
  fi
  if tcp_open "$host" "$port"; then
    die "something listens on $host:$port but does not answer PING with PONG (a password?)"
  fi
  [ "$host" = 127.0.0.1 ] || [ "$host" = localhost ] ||
    die "Redis does not answer on $host:$port (not a local address: start it yourself)"
  log "Redis does not answer on $host:$port"
  start_redis "$port" || die "could not start redis-server"
  wait_until 60 "Redis on $host:$port" redis_answers "$host" "$port" || die "Redis did not start"
  log "Redis answers on $host:$port"
}

# --------------------------------------------------------------------------
# ffmpeg (media jobs probe, transcode and make posters; the tests make tiny media with it)
# --------------------------------------------------------------------------

ensure_ffmpeg() {
  if command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; then
    log "ffmpeg found ($(ffmpeg -version 2>/dev/null | head -n1 | cut -d' ' -f3))"
    return 0
  fi
  apt_install ffmpeg || die "could not install ffmpeg"
}

# --------------------------------------------------------------------------
# Node.js (the tests drive the server with the official socket.io JS client)
# --------------------------------------------------------------------------

ensure_node() {
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    log "node $(node --version) and npm $(npm --version) found"
    return 0
  fi
  apt_install nodejs npm || die "could not install nodejs and npm"
}

_js_hash() { # DIR
  cat "$1/package.json" "$1/package-lock.json" 2>/dev/null | sha256sum | cut -d' ' -f1
}

# npm ci (or npm install without a lock file) in DIR when its node_modules is
# missing or older than package.json / package-lock.json. No-op without DIR.
ensure_js_deps() { # DIR
  local dir=$1 stamp
  [ -f "$dir/package.json" ] || return 0
  stamp=$dir/node_modules/.sharestack-stamp
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(_js_hash "$dir")" ]; then
    log "${dir#"$SHARESTACK_ROOT"/}/node_modules is up to date"
    return 0
  fi
  if [ -f "$dir/package-lock.json" ]; then
    log "npm ci in ${dir#"$SHARESTACK_ROOT"/}"
    (cd "$dir" && npm ci --no-audit --no-fund </dev/null) || die "npm ci failed"
  else
    log "npm install in ${dir#"$SHARESTACK_ROOT"/} (no package-lock.json)"
    (cd "$dir" && npm install --no-audit --no-fund </dev/null) || die "npm install failed"
  fi
  _js_hash "$dir" >"$stamp"
}
