package config

import (
	"strconv"
	"strings"
	"testing"

	"github.com/fips-agents/audit-sidecar/query"
)

func TestLoad_ServerMaxConcurrentQueries(t *testing.T) {
	const api = "listen: 127.0.0.1:8080, tokens_file: ./tokens.yaml"
	c, err := Load(write(t, withServer("{"+api+"}")))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.MaxConcurrentQueries != DefaultMaxConcurrentQueries || DefaultMaxConcurrentQueries != query.DefaultMaxConcurrentQueries {
		t.Errorf("default %d, want %d (query's %d)", c.Server.MaxConcurrentQueries, DefaultMaxConcurrentQueries, query.DefaultMaxConcurrentQueries)
	}
	for _, v := range []string{"1", "16", "1024"} {
		c, err := Load(write(t, withServer("{"+api+", max_concurrent_queries: "+v+"}")))
		if err != nil || v != strconv.Itoa(c.Server.MaxConcurrentQueries) {
			t.Errorf("max_concurrent_queries: %s: %v", v, err)
		}
	}
	for _, v := range []string{"-1", "1025"} {
		_, err := Load(write(t, withServer("{"+api+", max_concurrent_queries: "+v+"}")))
		if err == nil || !strings.Contains(err.Error(), "server.max_concurrent_queries") {
			t.Errorf("max_concurrent_queries: %s: error %v, want one naming the key", v, err)
		}
	}
}
