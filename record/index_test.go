package record

import (
	"reflect"
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
