package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/fips-agents/audit-sidecar/sink"
)

// migrateCmd applies the PostgreSQL schema of one postgres sink and
// reports what the connecting role may do. It is how an operator prepares
// the database with the owner role (docs/postgres.md) before the sidecars
// connect as the writer role; the DSN comes from the config or, with
// --dsn-env, from an environment variable (never from the command line,
// where other users of the machine could read it).
func migrateCmd(args []string) int {
	var sinkName, dsnEnv string
	cfg, code := loadConfig("migrate", args, func(fs *flag.FlagSet) {
		fs.StringVar(&sinkName, "sink", "", "postgres sink to migrate (default: the first)")
		fs.StringVar(&dsnEnv, "dsn-env", "", "read the DSN from this environment variable instead of the config (e.g. an owner role's DSN)")
	})
	if cfg == nil {
		return code
	}
	dsn := ""
	for _, s := range cfg.Sinks {
		if s.Type == "postgres" && (sinkName == "" || s.Name == sinkName) {
			dsn, sinkName = s.DSN, s.Name
			break
		}
	}
	if dsn == "" {
		return fail(exitUsage, "migrate: no postgres sink named %q in the config", sinkName)
	}
	if dsnEnv != "" {
		if dsn = os.Getenv(dsnEnv); dsn == "" {
			return fail(exitUsage, "migrate: environment variable %s is empty", dsnEnv)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg, err := sink.OpenPostgres(ctx, dsn, sink.PostgresOptions{RequireServer: true})
	if err != nil {
		return fail(exitUsage, "migrate: sinks %s: %v", sinkName, err)
	}
	defer pg.Close()
	p := pg.Posture
	fmt.Printf("schema: version %d\nrole: %s\n", sink.PostgresSchemaVersion, p.Role)
	if len(p.CanAlter) > 0 {
		fmt.Printf("role can alter audit rows: %s (fine for the owner; sidecars must use the writer role)\n", strings.Join(p.CanAlter, ", "))
	} else {
		fmt.Println("role cannot alter audit rows")
	}
	fmt.Printf("role can create partitions: %v\nrole can run retention purges: %v\n", p.CanCreatePartitions, p.CanPurge)
	return exitOK
}
