#!/usr/bin/env bash
# Mutation check: breaks, one at a time, guarantees that once survived
# every test (issue 16), each with a precise edit of the code, in a
# temporary copy of the repository (never in the working tree), and runs
# the one `go test` package command that should catch it, without
# PostgreSQL. It prints a table (mutation, test command, CAUGHT or
# SURVIVED) and exits 1 if any mutation survived.
#
# Each edit replaces a literal piece of text that must occur exactly once
# in its file: when the code it names has changed, the script stops with
# exit 2 and says which edit to update, so it cannot rot into checking
# nothing. A mutation whose package no longer builds (or vets) stops it
# too (exit 2): it would be caught for the wrong reason. Before the
# mutations, every test command must pass on the unmutated copy. Each
# CAUGHT names the test that is there to catch the mutation, or says that
# another one did.
#
# Usage: scripts/mutation-check.sh [name...]   (no name: every mutation)
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true # '&' in a replacement is literal

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/mutation-check.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
copy=$work/repo
mkdir -p "$copy"
tar -C "$root" --exclude=./.git -cf - . | tar -C "$copy" -xf -
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"
unset AUDIT_TEST_PG_DSN AUDIT_TEST_REQUIRE_PG

name=""
die() {
	echo "mutation-check: $name: $*" >&2
	exit 2
}

# replace FILE OLD NEW: in the copy, replaces the one occurrence of the
# literal text OLD in FILE by NEW.
replace() {
	local f=$copy/$1 old=$2 new=$3 content rest n
	[ -f "$f" ] || die "$1 does not exist: update this script"
	content=$(
		cat "$f"
		printf x
	)
	content=${content%x}
	rest=${content//"$old"/}
	n=$(((${#content} - ${#rest}) / ${#old}))
	[ "$n" -eq 1 ] || die "$1: the text to replace occurs $n times, not once (the code changed: update this script):
$old"
	printf '%s' "${content/"$old"/"$new"}" >"$f"
}

# restore FILE...: puts back the files of the copy as they are in the
# working tree.
restore() {
	local f
	for f in "$@"; do
		cp "$root/$f" "$copy/$f"
	done
}

# The mutations: name, the files they edit, the test command, the test
# that is there to catch it, and the edit (a function mut_<name>).
mutations=(
	verify-approver "verify/verify.go" "go test -count=1 ./verify/" TestRun_EachStoredColumnIsChecked
	verify-kid "verify/verify.go" "go test -count=1 ./verify/" TestRun_EachStoredColumnIsChecked
	verify-tool "verify/verify.go" "go test -count=1 ./verify/" TestRun_EachStoredColumnIsChecked
	list-drops-approver "record/index.go" "go test -count=1 ./record/" TestIndexColumns_OneEntryPerField
	commit-drops-failed-batch "pipeline/commit.go" "go test -count=1 ./pipeline/" TestIngest_FailedCommitKeepsTheBatch
	deliver-zeroes-macs "pipeline/deliver.go" "go test -count=1 ./pipeline/" TestIngestAndDeliver
	position-own-transaction "pipeline/commit.go" "go test -count=1 ./pipeline/" TestIngest_RecordsAndPositionCommitTogether
	ingest-ignores-closed-lines "pipeline/ingest.go" "go test -count=1 ./pipeline/" TestIngest_ClosedLinesEndTheRun
	epoch-key-never-stored "pipeline/epoch.go" "go test -count=1 ./pipeline/" TestIngest_EpochKeyStoredOnceItsSealIsCommitted
	register-changes-memory-in-tx "spool/cursors.go" "go test -count=1 ./spool/" TestSpool_Register_FailedTransactionChangesNothing
)
n=4 # fields per mutation

# verify compares a stored column with the payload.
skip_column() {
	replace verify/verify.go \
		'		if *c.In(&row.Columns) != c.Of(r) {' \
		"		if c.Name != \"$1\" && *c.In(&row.Columns) != c.Of(r) { // mutation: $1 not compared"
}
mut_verify-approver() { skip_column approver; }
mut_verify-kid() { skip_column kid; }
mut_verify-tool() { skip_column tool; }

# The one list of indexed columns loses one (sinks no longer store it,
# verify no longer compares it).
mut_list-drops-approver() {
	replace record/index.go \
		'	{"approver", false, func(c *Columns) *string { return &c.Approver }, func(r *Record) string { return r.Approver }},
' ''
}

# The ingester takes a failed spool commit for a done one: the batch and
# the position after it are dropped, and reading goes on.
mut_commit-drops-failed-batch() {
	replace pipeline/commit.go \
		'		in.failing.Store(err != nil)
		if err == nil {' \
		'		in.failing.Store(err != nil)
		err = nil // mutation: a failed commit is taken as done
		if err == nil {'
}

# The deliverer hands the sink every record with its MAC zeroed.
mut_deliver-zeroes-macs() {
	replace pipeline/deliver.go \
		'		f.prep, f.err = pl.Prepare(ctx, recs)' \
		'		for i := range recs { // mutation: every MAC zeroed
			recs[i].MAC = [32]byte{}
		}
		f.prep, f.err = pl.Prepare(ctx, recs)'
}

# The source position is committed in a spool transaction of its own,
# after the records' (a crash between the two leaves records without
# their position).
mut_position-own-transaction() {
	replace pipeline/commit.go \
		'		err := in.store.AppendExtra(in.batch, pos, x)' \
		'		err := in.store.AppendExtra(in.batch, nil, x) // mutation: two transactions
		if err == nil {
			err = in.store.AppendExtra(nil, pos, spool.Extra{})
		}'
}

# The ingester does not see that the lines channel was closed.
mut_ingest-ignores-closed-lines() {
	replace pipeline/ingest.go \
		'		case l, ok := <-lines:
			if !ok {
				return in.stop(stopSourceClosed)
			}' \
		'		case l := <-lines: // mutation: a closed channel is not seen'
}

# keepEpochKey never stores the epoch key (and believes it did).
mut_epoch-key-never-stored() {
	replace pipeline/epoch.go \
		'	if err := in.cfg.EpochStore(in.sealer.Key(), in.sealer.Epoch()); err != nil {' \
		'	if err := error(nil); err != nil { // mutation: the key is never stored'
}

# Register changes the spool's cursors in memory inside its transaction,
# so a failed transaction leaves them changed.
mut_register-changes-memory-in-tx() {
	replace spool/cursors.go \
		'	cursors := maps.Clone(s.sinks)
	var removed, added []string' \
		'	cursors := maps.Clone(s.sinks)
	cursors = s.sinks // mutation: memory changed before the commit
	var removed, added []string'
}

want=("$@")
for name in "${want[@]}"; do
	declare -F "mut_$name" >/dev/null || die "no such mutation"
done
selected() {
	[ ${#want[@]} -eq 0 ] && return 0
	local w
	for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done
	return 1
}

# Every edit is applied first, so a stale one fails at once and not after
# minutes of tests; then the copy is restored.
for ((i = 0; i < ${#mutations[@]}; i += n)); do
	name=${mutations[i]}
	selected "$name" || continue
	declare -F "mut_$name" >/dev/null || die "no edit defined"
	"mut_$name"
	restore ${mutations[i + 1]}
done

# Baseline: each test command passes on the unmutated copy.
declare -A baseline=()
for ((i = 0; i < ${#mutations[@]}; i += n)); do
	name=${mutations[i]} cmd=${mutations[i + 2]}
	selected "$name" || continue
	[ -n "${baseline[$cmd]:-}" ] && continue
	echo "baseline: $cmd" >&2
	if ! (cd "$copy" && $cmd >"$work/out" 2>&1); then
		cat "$work/out" >&2
		die "the baseline fails: $cmd (fix the tests first)"
	fi
	baseline[$cmd]=ok
done

start=$SECONDS
survived=0
rows=()
for ((i = 0; i < ${#mutations[@]}; i += n)); do
	name=${mutations[i]} files=${mutations[i + 1]} cmd=${mutations[i + 2]} guard=${mutations[i + 3]}
	selected "$name" || continue
	"mut_$name"
	pkg=${cmd##* }
	echo "mutation: $name ($cmd)" >&2
	if ! (cd "$copy" && go vet "$pkg" >"$work/out" 2>&1); then
		cat "$work/out" >&2
		restore $files
		die "the mutated code does not build or vet: update this edit"
	fi
	t0=$SECONDS
	if (cd "$copy" && $cmd >"$work/out" 2>&1); then
		result=SURVIVED
		survived=$((survived + 1))
	else
		# The top-level tests that failed: the one there to catch it
		# should be among them.
		failed=$(sed -n 's/^--- FAIL: \([^ ]*\) .*/\1/p' "$work/out" | tr '\n' ' ')
		if [ -z "$failed" ]; then
			result="CAUGHT, by no test by name: $(grep -m1 -E '^(panic|FAIL)' "$work/out" || true)"
		elif [[ " $failed" == *" $guard "* ]]; then
			result="CAUGHT by $guard"
		else
			result="CAUGHT by ${failed%% *}, not by $guard"
		fi
	fi
	rows+=("$name" "$cmd" "$result ($((SECONDS - t0))s)")
	restore $files
done

printf '\n%-30s  %-30s  %s\n' MUTATION "TEST COMMAND" RESULT
for ((i = 0; i < ${#rows[@]}; i += 3)); do
	printf '%-30s  %-30s  %s\n' "${rows[i]}" "${rows[i + 1]}" "${rows[i + 2]}"
done
printf '\n%d mutations, %d survived, %ds\n' $((${#rows[@]} / 3)) "$survived" $((SECONDS - start))
[ "$survived" -eq 0 ]
