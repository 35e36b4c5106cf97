package record

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// TestIndexColumns_OneEntryPerField: IndexColumns names every field of
// Columns exactly once, each by its own name, so that a field added to
// Columns without its entry (or an entry pointing at another field's
// value) fails here and not in a store.
func TestIndexColumns_OneEntryPerField(t *testing.T) {
	var c Columns
	fields := reflect.ValueOf(&c).Elem()
	if n := fields.NumField(); n != len(IndexColumns) {
		t.Fatalf("Columns has %d fields, IndexColumns %d entries", n, len(IndexColumns))
	}
	names := map[string]bool{}
	for i, col := range IndexColumns {
		if names[col.Name] {
			t.Errorf("column %q listed twice", col.Name)
		}
		names[col.Name] = true
		if got, want := col.In(&c), fields.Field(i).Addr().Interface().(*string); got != want {
			t.Errorf("column %q (entry %d) is not field %s of Columns", col.Name, i, fields.Type().Field(i).Name)
		}
	}
}

// TestColumnsOf_AreIndexOfThePayload: every indexed column of a record,
// each set to a value of its own, is what Index reads back from the
// record's payload, and no column is left empty.
func TestColumnsOf_AreIndexOfThePayload(t *testing.T) {
	r := sample()
	got, err := Index(AppendCanonical(nil, r))
	if err != nil {
		t.Fatal(err)
	}
	want := ColumnsOf(r)
	if got.Columns != want || got.Chain != r.Chain || got.Seq != r.Seq || got.Prev != r.Prev {
		t.Fatalf("Index %+v\nColumnsOf %+v", got, want)
	}
	seen := map[string]string{}
	for _, col := range IndexColumns {
		v := *col.In(&want)
		if v == "" {
			t.Errorf("column %q is empty in the sample", col.Name)
		}
		if other, ok := seen[v]; ok {
			t.Errorf("columns %q and %q hold the same value %q in the sample", other, col.Name, v)
		}
		seen[v] = col.Name
	}
}

// TestIndex_ValuesKeptFromCallToCall: Index keeps the values it decoded
// for the next calls (an interner per goroutine, through a pool): records
// that share some values and differ in others, decoded over and over from
// several goroutines at once, each read back exactly as ColumnsOf says,
// escaped values and values longer than what is kept included.
func TestIndex_ValuesKeptFromCallToCall(t *testing.T) {
	var recs []*Record
	for i := range 64 {
		r := sample()
		r.Seq = uint64(i + 1)
		r.User = fmt.Sprintf("u-%d", i%5)                      // repeats
		r.Session = fmt.Sprintf("s-%d-\"quoted\"\\%d", i%3, i) // escaped: never kept
		r.Tool = strings.Repeat("t", 60+i)                     // longer than what is kept past 64
		r.Tenant = "acme"
		recs = append(recs, r)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 200 {
				r := recs[(round*7+g)%len(recs)]
				got, err := Index(AppendCanonical(nil, r))
				if err != nil {
					errs <- err
					return
				}
				if got.Columns != ColumnsOf(r) || got.Chain != r.Chain || got.Seq != r.Seq || got.Prev != r.Prev {
					errs <- fmt.Errorf("seq %d: Index %+v, ColumnsOf %+v", r.Seq, got.Columns, ColumnsOf(r))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
