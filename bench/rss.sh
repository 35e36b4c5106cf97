#!/usr/bin/env bash
# rss.sh BIN [ENV=VALUE...] — one run of the sidecar binary BIN on the bench
# workload into SQLite (config.yaml beside this file), without the peer:
# wall time until every record is stored, events/s, CPU seconds, peak RSS
# (VmHWM), what the peak is made of (/proc/PID/smaps, sampled every 0.1 s:
# the process's anonymous memory, the binary, the spool's mapping, ...),
# and the resident memory IDLE_WAIT seconds after the last record was
# stored (default 0; 75 shows what an idle sidecar gives back after a
# burst). The workload is EVENTS (default: generated once into
# $TMPDIR/audit-bench-rss-200000.jsonl by cmd/gen, seed 42). ENV=VALUE
# pairs are set for the run (GOGC=25, GOMEMLIMIT=48MiB, ...).
# TARGET=pgsql delivers into PostgreSQL instead (config-pg.yaml), in a
# schema of its own created in BENCH_PG_DSN's database and dropped after
# the run (default DSN: the local server's database test).
# Needs python3 (the SQLite poll and the smaps sampler), and psql for
# TARGET=pgsql.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:?usage: rss.sh BIN [ENV=VALUE...]}; shift
n=${N:-200000}
events=${EVENTS:-${TMPDIR:-/tmp}/audit-bench-rss-$n.jsonl}
[ -s "$events" ] || (cd "$here/.." && go run ./bench/cmd/gen -n "$n" -seed 42 -o "$events" >/dev/null)
run=$(mktemp -d); trap 'rm -rf "$run"' EXIT
export BENCH_IN=$events BENCH_RUN=$run BENCH_DB=$run/events.db
head -c 32 /dev/urandom > "$run/hmac.key"
case ${TARGET:-sqlite} in
  sqlite) cp "$here/config.yaml" "$run/config.yaml" ;;
  pgsql)
    pgdsn=${BENCH_PG_DSN:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
    schema=rss_$$
    psql "$pgdsn" -qc "CREATE SCHEMA $schema" >/dev/null
    trap 'psql "$pgdsn" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1; rm -rf "$run"' EXIT
    case $pgdsn in *\?*) sep='&' ;; *) sep='?' ;; esac
    export BENCH_PG_DSN="$pgdsn${sep}search_path=$schema"
    cp "$here/config-pg.yaml" "$run/config.yaml" ;;
  *) echo "TARGET must be sqlite or pgsql" >&2; exit 2 ;;
esac
lines=$(wc -l < "$events"); want=$((lines + 2))   # + chain_start, sidecar_start
start=$(date +%s.%N)
env GODEBUG=fips140=on "$@" "$bin" run --config "$run/config.yaml" 2>"$run/stderr" &
pid=$!
python3 - "$pid" > "$run/peak" <<'PY' &
import os, re, sys, time
pid = sys.argv[1]; best = (0, {})
while os.path.exists(f'/proc/{pid}'):
    try:
        cur, name, tot = {}, None, 0
        for line in open(f'/proc/{pid}/smaps'):
            if re.match(r'^[0-9a-f]+-[0-9a-f]+ ', line):
                f = line.split(); name = f[5] if len(f) > 5 else '[anon]'
            elif line.startswith('Rss:'):
                kb = int(line.split()[1]); cur[name] = cur.get(name, 0) + kb; tot += kb
        if tot > best[0]: best = (tot, cur)
    except OSError:
        break
    time.sleep(0.1)
print(f'peak by mapping (sampled): {best[0]/1024:.1f} MiB:', ', '.join(
    f'{os.path.basename(k)} {v/1024:.1f}' for k, v in sorted(best[1].items(), key=lambda x: -x[1])[:4]))
PY
sampler=$!
count() {
  if [ "${TARGET:-sqlite}" = pgsql ]; then
    psql "$pgdsn" -Atc "SELECT coalesce(max(seq), 0) FROM $schema.audit_records WHERE chain = 'bench'" 2>/dev/null || echo 0
    return
  fi
  python3 -c "
import sqlite3
try:
    c = sqlite3.connect('file:$BENCH_DB?mode=ro', uri=True)
    print(c.execute('SELECT coalesce(max(rowid), 0) FROM audit_records').fetchone()[0])
except Exception:
    print(0)"
}
until [ "$(count)" -ge "$want" ]; do
  kill -0 "$pid" 2>/dev/null || { echo "the sidecar exited:"; cat "$run/stderr"; exit 1; }
  sleep 0.1
done
end=$(date +%s.%N)
hwm=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
cpu=$(awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$pid/stat")
sleep "${IDLE_WAIT:-0}"
after=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
kill -TERM "$pid"; wait "$pid" || true; wait "$sampler" || true
python3 -c "w = $end - $start; print(f'wall {w:.2f} s, {$lines / w:.0f} events/s, CPU {$cpu:.2f} s, peak RSS {$hwm / 1024:.1f} MiB, RSS {${IDLE_WAIT:-0}} s after {$after / 1024:.1f} MiB')"
cat "$run/peak"
