#!/usr/bin/env bash
# setup.sh [WHAT...] — installs from Debian's packages what the benchmark
# scripts need and this machine lacks; does nothing when all is there.
#
#   peer    syslog-ng with its sql, slog and SCL modules, the libdbi drivers
#           for SQLite and PostgreSQL, sqlite3, GNU time, pgrep (default)
#   pgsql   PostgreSQL server binaries and psql (skipped when an initdb is
#           found under /usr/lib/postgresql or PGBIN is set), python3 (pg.sh
#           asks it for a free port)
#   floors  python3 (SQLite floor), openssl
#   replay  curl, bc (replay-pg.sh)
#
# run-peer.sh (hence run.sh) and replay-pg.sh call it with what they will
# use. BENCH_SETUP=0 skips it (then missing tools are reported, not
# installed). It refuses an installation that would remove packages (on a
# host whose system logger is rsyslog, syslog-ng-core would replace it)
# unless BENCH_SETUP_ALLOW_REMOVALS=1. Go (the version of go.mod) is not
# installed here.
set -euo pipefail
[ "${BENCH_SETUP:-1}" = 0 ] && exit 0
[ $# -gt 0 ] || set -- peer

want=()
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
need() { local p; for p; do installed "$p" || want+=("$p"); done; }

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  echo "setup.sh: not a Debian system: install the tools of bench/README.md (Setup) by hand" >&2
  exit 0
fi

for what; do
  case $what in
    peer)   need syslog-ng-core syslog-ng-mod-sql syslog-ng-mod-slog syslog-ng-scl \
                 libdbd-sqlite3 libdbd-pgsql sqlite3 time procps ;;
    pgsql)  if [ -z "${PGBIN:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then need postgresql; fi
            command -v psql >/dev/null || need postgresql-client
            need python3 ;;
    floors) need python3 openssl ;;
    replay) need curl bc ;;
    *) echo "setup.sh: unknown WHAT '$what' (peer, pgsql, floors, replay)" >&2; exit 2 ;;
  esac
done
[ ${#want[@]} -gt 0 ] || exit 0
# shellcheck disable=SC2207
want=($(printf '%s\n' "${want[@]}" | sort -u))

sudo=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null && sudo -n true 2>/dev/null ||
    { echo "setup.sh: missing ${want[*]}; as root: apt-get install -y --no-install-recommends ${want[*]}" >&2; exit 1; }
  sudo=(sudo -n)
fi
export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -y -q --no-install-recommends)

echo "setup.sh: installing ${want[*]}" >&2
# A dry run first: the package lists may be missing (then refreshed once),
# and an installation that removes packages is not made behind the user's back.
if ! plan=$("${apt[@]}" -s install "${want[@]}" 2>&1); then
  "${sudo[@]}" apt-get -q update >/dev/null
  plan=$("${apt[@]}" -s install "${want[@]}" 2>&1) || { echo "$plan" >&2; exit 1; }
fi
if grep -q '^Remv' <<<"$plan" && [ "${BENCH_SETUP_ALLOW_REMOVALS:-0}" != 1 ]; then
  echo "setup.sh: installing ${want[*]} would remove:" >&2
  grep '^Remv' <<<"$plan" >&2
  echo "setup.sh: set BENCH_SETUP_ALLOW_REMOVALS=1 to accept, or install by hand" >&2
  exit 1
fi
"${sudo[@]}" "${apt[@]}" install "${want[@]}" >&2
