#!/usr/bin/env bash
# replay-pg.sh [N] — replay rate after a PostgreSQL outage: the sidecar
# ingests N events of the benchmark's workload while its database is down (all
# spooled), then the server starts and the drain of the spool is timed from
# the server's start and from the sidecar's first successful write; the
# sidecar's peak RSS over both (VmHWM) is printed too.
# Uses the harness's throwaway cluster (pg.sh); what the machine lacks is
# installed from Debian's packages first (setup.sh pgsql replay).
set -euo pipefail
N=${1:-200000}
here=$(cd "$(dirname "$0")" && pwd)
"$here/setup.sh" pgsql replay
W=$(mktemp -d); chmod 755 "$W"
trap '"$here/pg.sh" stop "$W/pg" >/dev/null 2>&1 || true; rm -rf "$W"' EXIT
(cd "$here/.." && GOFIPS140=v1.0.0 go build -o "$W/audit-sidecar" ./cmd/audit-sidecar)
(cd "$here/.." && go run ./bench/cmd/gen -n "$N" -seed 42 -o "$W/events.jsonl" -pii-list "$W/pii.txt") >/dev/null
PORT=$("$here/pg.sh" start "$W/pg" | sed -n 's/^PORT=//p')
psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE bench"
"$here/pg.sh" stop "$W/pg"
head -c 32 /dev/urandom > "$W/hmac.key"
METRICS=127.0.0.1:18089
cat > "$W/config.yaml" <<YAML
source: {path: $W/events.jsonl, format: native, start_at: beginning}
chain: {id: replay, key_file: $W/hmac.key}
redact: {packs: [core]}
spool: {path: $W/spool.db, max_bytes: 4294967296}
sinks: [{name: central, type: postgres, dsn: "postgres://postgres@127.0.0.1:$PORT/bench?sslmode=disable&connect_timeout=2"}]
server: {listen: "$METRICS", tokens_file: $here/../examples/tokens.yaml}
log: {level: info}
YAML
GODEBUG=fips140=on "$W/audit-sidecar" run --config "$W/config.yaml" 2>"$W/sidecar.log" &
SPID=$!
until curl -s "$METRICS/metrics" | grep -q "^audit_chain_head_seq $((N + 2))"; do sleep 0.2; done
echo "spooled $((N + 2)) records with the database down"
PG_PORT=$PORT "$here/pg.sh" start "$W/pg" >/dev/null
t0=$(date +%s.%N)
q="SELECT coalesce(max(seq),0) FROM audit_records WHERE chain = 'replay'" # an index descent, not a scan
# One psql session polls (a psql and a server backend started per poll
# would cost the machine more than the writes being measured).
until psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d bench -c 'SELECT 1' >/dev/null 2>&1; do sleep 0.05; done
coproc PQ { exec psql -X -q -tA -h 127.0.0.1 -p "$PORT" -U postgres -d bench 2>&1; }
stored=0
until [ "$stored" = "$((N + 2))" ]; do
  sleep 0.05
  printf '%s;\n' "$q" >&"${PQ[1]}"
  read -r -t 10 -u "${PQ[0]}" stored
done
exec {PQ[1]}>&-
t1=$(date +%s.%N)
hwm=$(awk '/^VmHWM:/{print $2}' "/proc/$SPID/status")
kill -TERM $SPID; wait $SPID || true
first=$(grep -m1 '"sink recovered"' "$W/sidecar.log" | sed 's/.*"ts":"\([^"]*\)".*/\1/')
t_first=$(date -d "$first" +%s.%N)
echo "server start -> first write: $(echo "$t_first - $t0" | bc) s"
echo "first write -> all $((N + 2)) stored: $(echo "$t1 - $t_first" | bc) s = $(echo "($N + 2) / ($t1 - $t_first)" | bc) records/s"
echo "peak RSS of the sidecar (the spooling, then the drain): $(echo "scale=1; $hwm / 1024" | bc) MiB"
psql -X -tA -h 127.0.0.1 -p "$PORT" -U postgres -d bench -c "SELECT 'rows=' || count(*) || ' distinct_seq=' || count(DISTINCT seq) FROM audit_records"
