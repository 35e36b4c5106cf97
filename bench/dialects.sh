#!/usr/bin/env bash
# dialects.sh [REPEAT] — rough end-to-end rate of each input dialect: the
# golden inputs of parse/testdata repeated REPEAT times (default 1000) are
# read by the binary into a SQLite sink; the time is until the sink's count
# stops growing (polled every 0.5 s, so a lower bound on the rate). Needs
# python3 (its sqlite3 module reads the count).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rep=${1:-1000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$here/.." && go build -o "$work/audit-sidecar" ./cmd/audit-sidecar)
head -c 32 /dev/urandom > "$work/hmac.key"
td=$here/../parse/testdata

run() { # format input [extra source keys]
  local fmt=$1 in=$2 extra=${3:-} d
  d=$(mktemp -d "$work/run.XXXX")
  for _ in $(seq "$rep"); do cat "$in"; done > "$d/in.log"
  cat > "$d/config.yaml" <<EOC
source: {path: $d/in.log, format: $fmt, start_at: beginning $extra}
chain: {id: bench, key_file: $work/hmac.key}
spool: {path: $d/spool.db}
sinks: [{name: local, type: sqlite, path: $d/audit.db}]
server: {listen: ""}
log: {level: warn}
EOC
  local start last n prev=-1
  start=$(date +%s.%N)
  "$work/audit-sidecar" run --config "$d/config.yaml" 2>"$d/stderr" &
  local pid=$!
  while true; do
    sleep 0.5
    n=$(python3 -c "import sqlite3;print(sqlite3.connect('file:$d/audit.db?mode=ro',uri=True).execute('select count(*) from audit_records').fetchone()[0])" 2>/dev/null || echo 0)
    if [ "$n" = "$prev" ] && [ "$n" -gt 2 ]; then break; fi
    prev=$n
    last=$(date +%s.%N)
  done
  kill -TERM "$pid"
  wait "$pid" || true
  python3 -c "l=$(wc -l < "$d/in.log"); r=$prev-2; s=$last-$start; print('%-14s %6d lines -> %6d records in %4.1fs: >= %6.0f lines/s, >= %6.0f records/s' % ('$fmt', l, r, s, l/s, r/s))"
}

run otlp "$td/otlp/genai.in"
run openai-agents "$td/openai-agents/refund.in" ", openai_agents: {user_key: user, tenant_key: org}"
run langchain "$td/langchain/agent.in"
run fipsagents "$td/fipsagents/session.in"
run auto "$td/auto/mixed.in"
