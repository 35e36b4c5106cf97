package e2e

import (
	"bufio"
	"database/sql"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/fips-agents/audit-sidecar/internal/hostile"
)

// The memory budget of one line, as the README states it: the peak RSS
// of the process stays within its peak after a warm-up (small lines of
// every shape: code paged in, caches filled) plus lineMemoryBudget times
// source.max_line_bytes, whatever the lines (their values bounded by
// source.max_line_values, default max_line_bytes / 64).
const lineMemoryBudget = 32

// lineMemoryBytes is the test's source.max_line_bytes: 4 MiB, or
// E2E_LINE_MEMORY_BYTES (the README's figures at the default 16 MiB).
func lineMemoryBytes(t *testing.T) int {
	t.Helper()
	if v := os.Getenv("E2E_LINE_MEMORY_BYTES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 64<<10 {
			t.Fatalf("E2E_LINE_MEMORY_BYTES=%q: want a number of bytes, at least 65536", v)
		}
		return n
	}
	return 4 << 20
}

// TestE2E_LineMemory_HostileLines feeds each dialect the lines that cost
// most (internal/hostile: many keys, many findings at distinct paths,
// deep nesting, escapes, a line far over the value budget), each as long
// as max_line_bytes allows, and reads the process's peak RSS (VmHWM)
// after each. Every line is recorded: within the budget as its dialect
// reads it, over it as a parse_error record with the line's length.
func TestE2E_LineMemory_HostileLines(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/PID/status")
	}
	maxLine := lineMemoryBytes(t)
	for _, format := range hostile.Formats {
		t.Run(format, func(t *testing.T) {
			e := newEnv(t)
			source := fmt.Sprintf("  format: %s\n  max_line_bytes: %d\n", format, maxLine)
			if format == "mapping" {
				source += "  mapping:\n    action: {path: action}\n"
			}
			writeFile(t, e.cfgPath, []byte(strings.Replace(e.configYAML(""), "  format: native\n", source, 1)))
			writeFile(t, e.logPath, nil)
			p := e.start(t)
			db := openDB(t, e.dbPath)
			waitFor(t, "sidecar_start in SQLite", func() bool {
				var n int
				return db.QueryRow(`SELECT count(*) FROM audit_records WHERE action = 'sidecar_start'`).Scan(&n) == nil && n > 0
			})
			// Warm up on small lines of every shape.
			sentinel := string(hostile.Line(format, "string", 1000, 64)) + "\n"
			offset := int64(0)
			for _, shape := range hostile.Shapes {
				line := string(hostile.Line(format, shape, 64<<10, 64<<10/64)) + "\n"
				appendLines(t, e.logPath, line+sentinel)
				offset += int64(len(line))
				waitForOffset(t, db, p, offset)
				offset += int64(len(sentinel))
			}
			warm := vmHWM(t, p)
			offsets, lengths := map[string]int64{}, map[string]int{}
			for _, shape := range hostile.Shapes {
				line := hostile.Line(format, shape, maxLine, maxLine/64)
				offsets[shape], lengths[shape] = offset, len(line)
				appendLines(t, e.logPath, string(line)+"\n"+sentinel)
				offset += int64(len(line)) + 1
				waitForOffset(t, db, p, offset)
				offset += int64(len(sentinel))
				peak := vmHWM(t, p)
				t.Logf("%s %-8s %8d bytes: peak RSS %5.1f MiB = warm %4.1f MiB + %5.2f x max_line_bytes",
					format, shape, len(line), float64(peak)/(1<<20), float64(warm)/(1<<20), float64(peak-warm)/float64(maxLine))
				if peak-warm > int64(lineMemoryBudget*maxLine) {
					t.Errorf("%s %s: peak RSS %d bytes, more than the warm peak %d + %d x max_line_bytes", format, shape, peak, warm, lineMemoryBudget)
				}
			}
			for shape, off := range offsets {
				actions, reason, rawBytes := lineRecords(t, db, off)
				switch {
				case shape == "over" && (len(actions) != 1 || actions[0] != "parse_error" || !strings.Contains(reason, "values") || rawBytes != int64(lengths[shape])):
					t.Errorf("%s: line of %d bytes far over the value budget recorded as %v (%q, raw_bytes %d), want one parse_error naming values", shape, lengths[shape], actions, reason, rawBytes)
				case shape != "over" && (len(actions) == 0 || strings.Contains(strings.Join(actions, " "), "parse_error")):
					t.Errorf("%s: line within the budget recorded as %v (%q)", shape, actions, reason)
				}
			}
			p.stop(t)
		})
	}
}

// vmHWM is the peak resident set size of p, in bytes.
func vmHWM(t *testing.T, p *proc) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// waitForOffset waits until a record of the (small) line at offset is in
// SQLite: records are delivered in order, so every line before it is too.
func waitForOffset(t *testing.T, db *sql.DB, p *proc, offset int64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("the record of the line at offset %d", offset), func() bool {
		if p.exited() {
			t.Fatalf("audit-sidecar exited: %v", p.state)
		}
		var n int
		err := db.QueryRow(`SELECT count(*) FROM audit_records
			WHERE length(payload) < 65536 AND json_extract(payload, '$.source.offset') = ?`, offset).Scan(&n)
		return err == nil && n > 0
	})
}

// lineRecords returns the actions of the records of the line at offset and,
// for a parse_error, its reason and raw_bytes.
func lineRecords(t *testing.T, db *sql.DB, offset int64) (actions []string, reason string, rawBytes int64) {
	t.Helper()
	rows, err := db.Query(`SELECT action, coalesce(json_extract(payload, '$.detail.error'), ''),
		coalesce(json_extract(payload, '$.detail.raw_bytes'), 0)
		FROM audit_records WHERE json_extract(payload, '$.source.offset') = ? ORDER BY seq`, offset)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var a, r string
		var n int64
		if err := rows.Scan(&a, &r, &n); err != nil {
			t.Fatal(err)
		}
		actions = append(actions, a)
		if a == "parse_error" {
			reason, rawBytes = r, n
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return actions, reason, rawBytes
}
