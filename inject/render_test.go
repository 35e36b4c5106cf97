package inject

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fips-agents/audit-sidecar/config"
)

// TestRender_LoadsWithTheSidecarsConfig: the default config is one the
// sidecar's own loader accepts (strict, validated), holding what the
// annotations asked for.
func TestRender_LoadsWithTheSidecarsConfig(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		chain, format, file string
		port                int32
	}{
		{"agents.support-bot", "native", DefaultLogFile, DefaultAdminPort},
		{"a_b-c.d", "langchain", "events-?.log", 9191},
		{"x", "auto", "agent.jsonl", 1},
		{strings.Repeat("c", maxChainID), "otlp", "*", 65535},
		// Ids the annotation accepts that YAML reads as null, a number
		// or a bool when unquoted.
		{"null", "native", DefaultLogFile, DefaultAdminPort},
		{"NULL", "native", DefaultLogFile, DefaultAdminPort},
		{"1e3", "native", DefaultLogFile, DefaultAdminPort},
		{"0x10", "native", DefaultLogFile, DefaultAdminPort},
		{"true", "native", DefaultLogFile, DefaultAdminPort},
	} {
		path := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(path, []byte(Render(tc.chain, tc.format, tc.file, tc.port)), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if cfg.Source.Path != MountLog+"/"+tc.file || cfg.Source.Format != tc.format || cfg.Chain.ID != tc.chain ||
			cfg.Chain.KeyFile != MountKeys+"/"+HMACKeyFile || cfg.Chain.SigningKeyFile != MountKeys+"/"+SigningKeyFile ||
			cfg.Spool.Path != MountSpool+"/spool.db" || len(cfg.Sinks) != 1 || cfg.Sinks[0].Path != MountSpool+"/audit.db" ||
			cfg.Server.AdminListen != "0.0.0.0:"+strconv.Itoa(int(tc.port)) || cfg.Server.ListenAddr() != "" {
			t.Errorf("%+v: loaded %+v", tc, cfg)
		}
	}
	// A chain id of the pod's name, as the sidecar's environment gives it.
	t.Setenv("POD_NAME", "support-bot-7d9f8c6b5-x2x7q")
	path := filepath.Join(dir, "config.yaml")
	os.WriteFile(path, []byte(Render("agents.support-bot."+PodNameVar, "native", DefaultLogFile, DefaultAdminPort)), 0o600) //nolint:errcheck // Load reports it
	if cfg, err := config.Load(path); err != nil || cfg.Chain.ID != "agents.support-bot.support-bot-7d9f8c6b5-x2x7q" {
		t.Errorf("chain id of the pod's name: %v", err)
	}
	for f := range formats {
		path := filepath.Join(dir, "config.yaml")
		os.WriteFile(path, []byte(Render("c", f, DefaultLogFile, DefaultAdminPort)), 0o600) //nolint:errcheck // Load reports it
		if _, err := config.Load(path); err != nil {
			t.Errorf("format %s: %v", f, err)
		}
	}
}
