// Command audit-sidecar turns an AI agent's event log into a redacted,
// HMAC-chained audit trail. See the README for the commands.
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// revision is the VCS revision, set at build time with -ldflags
// "-X main.revision=..." where Go cannot read it (a build context
// without .git); the build's own VCS facts win when it has them.
var revision = ""

// Exit codes.
const (
	exitOK           = 0
	exitFailure      = 1 // runtime failure; for verify: invalid
	exitUsage        = 2 // usage, config or I/O error
	exitUnverifiable = 3 // verify only
)

const usage = `usage:
  audit-sidecar run --config FILE
  audit-sidecar check-config --config FILE   (what run checks before it starts; opens no sink or spool)
  audit-sidecar console --config FILE   (the read-only web console alone, on server.listen, over the query sink opened read-only)
  audit-sidecar verify (--config FILE [--sink NAME] | --file EXPORT.ndjson) [--key-file K]... [--pubkey PUB.pem]...
                       [--witness DIR | --checkpoint FILE] [--max-age D] [--json] [--report FILE.html]
  audit-sidecar export --config FILE [--sink NAME] [--from T] [--to T] > EXPORT.ndjson
  audit-sidecar migrate --config FILE [--sink NAME] [--dsn-env VAR]   (postgres schema)
  audit-sidecar redact --config FILE [--explain]   (stdin lines -> redacted stdout, or one line per hit)
  audit-sidecar inject --cert-file CRT --key-file KEY [--listen ADDR] [--image IMG] [--namespace NS] [--mode native|classic]
                       [--failure-policy Fail|Ignore] [--admin-port N]   (Kubernetes mutating admission webhook)
  audit-sidecar version`

func main() { os.Exit(dispatch(os.Args[1:])) }

func dispatch(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return runCmd(args[1:])
	case "check-config":
		return checkConfigCmd(args[1:])
	case "console":
		return consoleCmd(args[1:])
	case "verify":
		return verifyCmd(args[1:])
	case "spool-check": // the child process of the start-up spool check
		return spoolCheckCmd(args[1:])
	case "export":
		return exportCmd(args[1:])
	case "migrate":
		return migrateCmd(args[1:])
	case "redact":
		return redactCmd(args[1:])
	case "inject":
		return injectCmd(args[1:])
	case "version", "--version", "-v":
		return versionCmd(args[1:])
	case "help", "-h", "--help":
		fmt.Println(usage)
		return exitOK
	}
	fmt.Fprintf(os.Stderr, "audit-sidecar: unknown command %q\n%s\n", args[0], usage)
	return exitUsage
}

// fail prints a one-line reason and returns code.
func fail(code int, format string, args ...any) int {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintln(os.Stderr, "audit-sidecar: "+oneLine(msg))
	return code
}

func oneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\n' {
			b[i] = ';'
		}
	}
	return string(b)
}
