package pipeline

import (
	"reflect"
	"testing"
	"time"

	"github.com/fips-agents/audit-sidecar/spool"
	"github.com/fips-agents/audit-sidecar/tailer"
)

// The fixtures testdata/spool-v0-*.db.gz were written by the ingester
// before source positions were versioned (commit eae87ab): chain "c",
// testKey, BatchRecords 4, a retention of 1000h by the hour, lines 0..9 of
// sourceLines fed, and the file copied once lines 0..7 were committed
// (lines 8 and 9 in the open batch: a kill -9). Their positions are
// version 0: a bare tailer.Position, and {"files":{...}}.

// A spool written before positions were versioned resumes where it
// stopped: every line is stored once, the chain goes on valid.
func TestIngest_ResumesVersion0Spool(t *testing.T) {
	for _, tc := range []struct {
		name  string
		multi bool
		want  map[string]int64 // resume offset per file
	}{
		{"spool-v0-single.db", false, map[string]int64{"/log": 800}},
		{"spool-v0-files.db", true, map[string]int64{"/a": 400, "/b": 400}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp, _ := openFixture(t, tc.name)
			key := testKey(t)
			in, err := NewIngester(IngestConfig{ChainID: "c", Key: key, Spool: sp, Redactor: upper{}, BatchRecords: 4, BatchWait: time.Hour,
				Multi: tc.multi, Retention: Retention{MaxAge: 1000 * time.Hour, Interval: time.Hour}})
			if err != nil {
				t.Fatal(err)
			}
			resume := map[string]int64{}
			if tc.multi {
				all, err := in.ResumeAll()
				if err != nil {
					t.Fatal(err)
				}
				for w, p := range all {
					resume[w] = p.Offset
				}
			} else {
				p, err := in.Resume()
				if err != nil || p == nil {
					t.Fatalf("resume %v, %v", p, err)
				}
				resume[p.Path] = p.Offset
			}
			if !reflect.DeepEqual(resume, tc.want) {
				t.Fatalf("resumes at %v, want %v", resume, tc.want)
			}
			// The tailer goes on from there: lines 8..19 of the source.
			all := sourceLines(20, tc.multi)
			var rest []tailer.Line
			for _, l := range all {
				if l.Offset >= resume[l.Path] {
					rest = append(rest, l)
				}
			}
			if err := runLines(in, feed(rest)); err != nil {
				t.Fatal(err)
			}
			checkExactlyOnce(t, spooled(t, sp), key, all)
		})
	}
}

// A position committed by a single-file run, of either version, is where a
// multi-file run (the config changed to a pattern) resumes that file.
func TestIngest_ResumeAllTakesASingleFilePosition(t *testing.T) {
	v0, _ := openFixture(t, "spool-v0-single.db")
	v1 := newSpool(t)
	one, err := NewIngester(IngestConfig{ChainID: "c", Key: testKey(t), Spool: v1, Redactor: upper{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := runLines(one, feed(sourceLines(8, false))); err != nil {
		t.Fatal(err)
	}
	for name, sp := range map[string]*spool.Spool{"version 0": v0, "version 1": v1} {
		in, err := NewIngester(IngestConfig{ChainID: "c", Key: testKey(t), Spool: sp, Redactor: upper{}, Multi: true})
		if err != nil {
			t.Fatal(err)
		}
		all, err := in.ResumeAll()
		if p, ok := all["/log"]; err != nil || len(all) != 1 || !ok || p.Offset != 800 {
			t.Errorf("%s: resumes %+v, %v; want /log at 800", name, all, err)
		}
	}
}
