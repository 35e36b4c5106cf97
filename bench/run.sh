#!/usr/bin/env bash
# run.sh [N] — the sidecar as the candidate of the side-by-side benchmark
# (run-peer.sh, beside this file; bench/README.md lists the knobs, e.g.
# REPS, VARIANTS, FLOORS). Builds the binary (FIPS module) and runs it on the
# same workload and SQLite target as the syslog-ng peer. What the machine
# lacks is installed from Debian's packages first (setup.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bindir=$(mktemp -d)
trap 'rm -rf "$bindir"' EXIT
bin=$bindir/audit-sidecar
(cd "$here/.." && GOFIPS140=v1.0.0 go build -o "$bin" ./cmd/audit-sidecar)
export CANDIDATE="env GODEBUG=fips140=on $bin run --config \$BENCH_RUN/config.yaml"
# TARGET=pgsql delivers into the harness's PostgreSQL cluster instead.
case ${TARGET:-sqlite} in
  sqlite) cfg=config.yaml; export CAND_DONE_SQL='SELECT coalesce(max(rowid),0) FROM audit_records' ;;
  # The done query names the chain: max(seq) of one chain is an index
  # descent per partition, where max(seq) of the whole table reads every
  # row, at every poll, on the database's CPU.
  pgsql)  cfg=config-pg.yaml; export CAND_DONE_SQL="SELECT coalesce(max(seq),0) FROM audit_records WHERE chain = 'bench'"
          export CANDIDATE_TARGET=pgsql ;;
  *) echo "TARGET must be sqlite or pgsql" >&2; exit 2 ;;
esac
export CANDIDATE_SETUP="head -c 32 /dev/urandom > \$BENCH_RUN/hmac.key && cp '$here/$cfg' \$BENCH_RUN/config.yaml"
export CAND_EXTRA_ROWS=2   # chain_start + sidecar_start
export CANDIDATE_LABEL=${CANDIDATE_LABEL:-audit-sidecar}
export VARIANTS=${VARIANTS-${TARGET:-sqlite}}
"$here/run-peer.sh" "${1:-200000}"   # not exec: the binary is removed afterwards
