package config

import (
	"os"
	"strings"
	"testing"
)

// The example config, with its commented dialect keys switched on, loads.
func TestLoad_ExampleDialectKeys(t *testing.T) {
	b, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, k := range []string{"otlp:", "openai_agents:", "langchain:"} {
		s = strings.Replace(s, "  # "+k, "  "+k, 1)
	}
	if !strings.Contains(s, "\n  otlp: {user_attribute") {
		t.Fatal("example has no otlp line to switch on")
	}
	if _, err := Load(write(t, s)); err != nil {
		t.Fatalf("source keys of the example rejected: %v", err)
	}
}
