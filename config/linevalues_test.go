package config

import (
	"strings"
	"testing"
)

// source.max_line_values defaults to max_line_bytes / 64, follows
// max_line_bytes, and is refused outside 64..max_line_bytes by name.
func TestLoad_MaxLineValues(t *testing.T) {
	with := func(source string) string {
		return strings.Replace(minimal, "./agent.jsonl}", "./agent.jsonl, "+source+"}", 1)
	}
	for body, want := range map[string]int{
		minimal:                         DefaultMaxLineBytes / DefaultLineBytesPerValue,
		with("max_line_bytes: 4194304"): 4194304 / DefaultLineBytesPerValue,
		with("max_line_values: 1000"):   1000,
		with("max_line_bytes: 8192, max_line_values: 8192"): 8192,
	} {
		c, err := Load(write(t, body))
		if err != nil {
			t.Fatal(err)
		}
		if c.Source.MaxLineValues != want {
			t.Errorf("%s: max_line_values %d, want %d", body, c.Source.MaxLineValues, want)
		}
	}
	for _, source := range []string{"max_line_values: 10", "max_line_values: -1", "max_line_bytes: 8192, max_line_values: 8193"} {
		_, err := Load(write(t, with(source)))
		if err == nil || !strings.Contains(err.Error(), "source.max_line_values: must be between 64 and source.max_line_bytes") {
			t.Errorf("%s: %v", source, err)
		}
	}
}
