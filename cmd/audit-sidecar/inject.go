package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/fips-agents/audit-sidecar/inject"
	"github.com/fips-agents/audit-sidecar/server"
)

// injectFlags are the inject command's flags, parsed and checked.
type injectFlags struct {
	opts                                           inject.Options
	mode, policy, listen, certFile, keyFile, level string
	events                                         bool
	saDir                                          string
}

// parseInjectFlags parses args; a nil result comes with the exit code
// (exitOK for --help).
func parseInjectFlags(args []string) (*injectFlags, int) {
	fs := flag.NewFlagSet("inject", flag.ContinueOnError)
	f := &injectFlags{}
	o := &f.opts
	var adminPort int
	fs.StringVar(&f.listen, "listen", ":8443", "HTTPS address of the webhook (POST /mutate, GET /healthz)")
	fs.StringVar(&f.certFile, "cert-file", "", "PEM certificate chain the API server trusts (required)")
	fs.StringVar(&f.keyFile, "key-file", "", "PEM private key of the certificate (required)")
	fs.StringVar(&o.Image, "image", inject.DefaultImage, "the sidecar's image")
	fs.StringVar(&o.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "the injector's own namespace, never injected (default $POD_NAMESPACE)")
	fs.StringVar(&f.mode, "mode", string(inject.ModeNative), "native (an init container with restartPolicy Always) or classic; a pod's "+inject.AnnotationMode+" wins")
	fs.StringVar(&f.policy, "failure-policy", string(inject.Fail), "Fail (refuse a pod that cannot be injected) or Ignore (admit it without the sidecar, with a warning); match the webhook configuration's")
	fs.IntVar(&adminPort, "admin-port", inject.DefaultAdminPort, "the sidecar's admin port (probes, metrics)")
	fs.StringVar(&o.CPURequest, "cpu-request", "50m", "the sidecar's CPU request")
	fs.StringVar(&o.MemoryRequest, "memory-request", "64Mi", "the sidecar's memory request")
	fs.StringVar(&o.MemoryLimit, "memory-limit", "256Mi", "the sidecar's memory limit")
	fs.StringVar(&f.level, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&f.events, "events", true, "report each pod that cannot be injected as a Kubernetes event (events.k8s.io/v1, reason "+inject.ReasonInjectionFailed+"), through the API server with the pod's ServiceAccount token; needs RBAC create on events.k8s.io events in the injected namespaces")
	fs.StringVar(&f.saDir, "service-account-dir", inject.ServiceAccountDir, "the folder of the ServiceAccount's token (re-read at each event, as the kubelet rotates it) and ca.crt, for --events")
	if ok, code := parseFlags(fs, args); !ok {
		return nil, code
	}
	if fs.NArg() > 0 {
		return nil, fail(exitUsage, "inject: unexpected argument %q", fs.Arg(0))
	}
	if f.certFile == "" || f.keyFile == "" {
		return nil, fail(exitUsage, "inject: --cert-file and --key-file are required (the API server calls webhooks over HTTPS only)")
	}
	if adminPort < 1 || adminPort > 65535 {
		return nil, fail(exitUsage, "inject: --admin-port: must be 1-65535")
	}
	o.Mode, o.FailurePolicy, o.AdminPort = inject.Mode(f.mode), inject.FailurePolicy(f.policy), int32(adminPort)
	if errs := o.Validate(); len(errs) > 0 {
		return nil, fail(exitUsage, "inject: %v", errors.Join(errs...))
	}
	return f, exitOK
}

// injectCmd serves the mutating admission webhook (package inject) over
// HTTPS until SIGTERM, with its metrics on GET /metrics of the same
// listener. The certificate and key files are re-read when they
// change, as the API listener's are (a Secret rotated by cert-manager).
func injectCmd(args []string) int {
	f, code := parseInjectFlags(args)
	if f == nil {
		return code
	}
	o, listen, mode, policy := f.opts, f.listen, f.mode, f.policy
	certFile, keyFile := f.certFile, f.keyFile
	log := newLogger(f.level)
	defer log.Sync() //nolint:errcheck // stderr
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	reg := prometheus.NewRegistry()
	registerBuildInfo(reg)
	var events inject.EventRecorder
	if f.events {
		rec, err := newEventRecorder(f.saDir, reg, log)
		if err != nil {
			// Events say why; the injector's job is the admission, which
			// goes on without them.
			log.Warn("kubernetes events off", zap.Error(err))
		} else {
			events = rec
			done := make(chan struct{})
			go func() { rec.Run(ctx); close(done) }() //nolint:errcheck // Run returns nil
			defer func() { stop(); <-done }()
		}
	}
	h, err := inject.NewHandler(o, log, events)
	if err != nil {
		return fail(exitUsage, "inject: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", h)
	tlsFiles, err := server.NewTLS(server.TLSFiles{CertFile: certFile, KeyFile: keyFile}, log)
	if err != nil {
		var fe *server.FileError
		if errors.As(err, &fe) {
			return fail(exitUsage, "inject: --%s: %v", map[string]string{"cert_file": "cert-file", "key_file": "key-file"}[fe.Field], fe.Err)
		}
		return fail(exitUsage, "inject: tls: %v", err)
	}
	l, err := server.Listen(server.Config{Name: "webhook", Addr: listen, Handler: mux, MaxConns: 256, TLS: tlsFiles, Logger: log, Metrics: server.NewMetrics(reg),
		Timeouts: server.Timeouts{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 30 * time.Second, Idle: 90 * time.Second}})
	if err != nil {
		return fail(exitUsage, "inject: --listen: %v", err)
	}
	log.Info("webhook listening", zap.String("addr", l.Addr().String()), zap.String("namespace", o.Namespace),
		zap.String("mode", mode), zap.String("failure_policy", policy), zap.Bool("events", events != nil))
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l.Shutdown(sctx)
	fmt.Fprintln(os.Stderr, "audit-sidecar: inject stopped")
	return exitOK
}

// newEventRecorder is the recorder of the injector's events, posting to
// the API server of the cluster it runs in (KUBERNETES_SERVICE_HOST and
// _PORT, the token and CA in saDir), as the pod named by its host name.
func newEventRecorder(saDir string, reg prometheus.Registerer, log *zap.Logger) (*inject.Recorder, error) {
	api, err := inject.NewAPIServer(inject.APIServerConfig{
		Host: os.Getenv("KUBERNETES_SERVICE_HOST"), Port: os.Getenv("KUBERNETES_SERVICE_PORT"),
		TokenFile: filepath.Join(saDir, "token"), CAFile: filepath.Join(saDir, "ca.crt"),
	})
	if err != nil {
		return nil, err
	}
	instance, err := os.Hostname()
	if err != nil || instance == "" {
		return nil, fmt.Errorf("no host name for reportingInstance: %v", err)
	}
	return inject.NewRecorder(api, inject.RecorderConfig{Instance: instance, Registerer: reg, Logger: log})
}
