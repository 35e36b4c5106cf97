package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults.
const (
	DefaultPoll          = 250 * time.Millisecond
	DefaultRotateDrain   = 5 * time.Second
	DefaultMaxLineBytes  = 16 << 20
	DefaultSpoolMaxBytes = 1 << 30
	DefaultBatchRecords  = 1000
	DefaultBatchWait     = 50 * time.Millisecond
	DefaultListen        = "127.0.0.1:8080"
	DefaultReadyGrace    = 30 * time.Second
	DefaultDrainTimeout  = 10 * time.Second

	// The HTTP listeners' bounds (server.max_connections, server.timeouts).
	DefaultMaxConnections    = 512
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 10 * time.Minute
	DefaultIdleTimeout       = 60 * time.Second
	// DefaultMaxConcurrentQueries is server.max_concurrent_queries'
	// default, query.DefaultMaxConcurrentQueries.
	DefaultMaxConcurrentQueries = 4

	DefaultSignerName         = "audit-sidecar"
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = 10 * time.Second
	DefaultEpoch              = 60 * time.Second
)

// DefaultLineBytesPerValue sets the default of source.max_line_values:
// max_line_bytes / DefaultLineBytesPerValue.
const DefaultLineBytesPerValue = 64

// Config is the whole configuration.
type Config struct {
	Source    Source    `yaml:"source"`
	Chain     Chain     `yaml:"chain"`
	Redact    Redact    `yaml:"redact"`
	Spool     Spool     `yaml:"spool"`
	Sinks     []Sink    `yaml:"sinks"`
	Retention Retention `yaml:"retention"`
	Server    Server    `yaml:"server"`
	Log       Log       `yaml:"log"`
	Shutdown  Shutdown  `yaml:"shutdown"`

	// File is the config file itself, absolute (set by Load).
	File string `yaml:"-"`
}

// OwnFiles are the sidecar's own files that the config names: the config
// itself, keys, tokens, TLS files, the spool and the SQLite sinks. The source never
// reads them, whatever source.path says; the source also refuses every
// file named like one of them followed by '.' or '-' (journals, the
// epoch key, moved-aside copies).
func (c *Config) OwnFiles() []string {
	files := []string{c.File, c.Chain.KeyFile, c.Chain.SigningKeyFile, c.Redact.HashKeyFile, c.Server.TokensFile, c.Spool.Path}
	files = append(files, c.Server.TLS.CertFile, c.Server.TLS.KeyFile, c.Server.TLS.ClientCAFile)
	files = append(files, c.Chain.PreviousKeyFiles...)
	for _, s := range c.Sinks {
		files = append(files, s.Path)
	}
	return slices.DeleteFunc(files, func(f string) bool { return f == "" })
}

// Source is the agent's event log.
type Source struct {
	Path         string        `yaml:"path"`
	Format       string        `yaml:"format"`   // auto | native | fipsagents | otlp | openai-agents | langchain | mapping
	Envelope     string        `yaml:"envelope"` // none | cri | docker | auto
	StartAt      string        `yaml:"start_at"` // beginning | end
	Poll         time.Duration `yaml:"poll"`
	RotateDrain  time.Duration `yaml:"rotate_drain"`
	MaxLineBytes int           `yaml:"max_line_bytes"`
	// MaxLineValues bounds the JSON values and keys of one line (counted
	// as its '{', '[', ',' and ':' bytes): a line holding more becomes a
	// parse_error record, so that the memory one line takes is bounded
	// by max_line_bytes. Default max_line_bytes / DefaultLineBytesPerValue.
	MaxLineValues int `yaml:"max_line_values"`
	// AllowedDirs are the folders source.path (and its rotated
	// generations) may resolve into through symbolic links; default the
	// folder of source.path. Anything resolving elsewhere is refused.
	AllowedDirs []string `yaml:"allowed_dirs"`
	// Rotated says which names beside source.path are its rotated
	// generations: styles (numbered, dateext, kubelet, timed) or
	// /regular expressions/ of the suffix after the base name; default
	// every style.
	Rotated []string `yaml:"rotated"`
	// IdentityPath is a gateway's JSON request log ({"request_id",
	// "subject", "tenant_id"} per line): records with a detail.request_id
	// get their user and tenant from it.
	IdentityPath string `yaml:"identity_path"`
	// Per-dialect settings (see docs/dialects.md).
	OTLP         OTLPSource          `yaml:"otlp"`
	OpenAIAgents MetadataKeys        `yaml:"openai_agents"`
	LangChain    MetadataKeys        `yaml:"langchain"`
	Mapping      map[string]MapField `yaml:"mapping"` // record field -> where it is; format mapping only
}

// OTLPSource names the span attributes that OpenTelemetry does not
// standardise; empty means the default.
type OTLPSource struct {
	UserAttribute     string `yaml:"user_attribute"`     // default user.id
	TenantAttribute   string `yaml:"tenant_attribute"`   // default tenant.id
	ApprovalAttribute string `yaml:"approval_attribute"` // default gen_ai.tool.approval
	ApproverAttribute string `yaml:"approver_attribute"` // default gen_ai.tool.approver
}

// MetadataKeys names the metadata keys that carry the user and the tenant;
// empty means the default (user_id, tenant_id).
type MetadataKeys struct {
	UserKey   string `yaml:"user_key"`
	TenantKey string `yaml:"tenant_key"`
}

// MapField says where one record field is in a line of format mapping: a
// dotted path (a.b.0.c), an optional map of values, a default, and for ts
// the layout (rfc3339, unix, unix_ms, unix_ns).
type MapField struct {
	Path    string            `yaml:"path"`
	Map     map[string]string `yaml:"map"`
	Default string            `yaml:"default"`
	Layout  string            `yaml:"layout"`
}

// Chain names the chain and its HMAC key.
type Chain struct {
	ID      string `yaml:"id"`
	KeyFile string `yaml:"key_file"`
	KeyID   string `yaml:"kid"` // optional; derived from the key when empty
	// PreviousKeyFiles are the keys the chain was sealed with before
	// key_file (their kids derived): needed once to seal the key_rotation
	// record, and by verify for the records they sealed.
	PreviousKeyFiles []string `yaml:"previous_key_files"`

	// SigningKeyFile, when set, turns on signed checkpoints: a PKCS#8 PEM
	// private key, Ed25519 or ECDSA P-256. SignerName is the key's name
	// in the signature lines (default "audit-sidecar").
	SigningKeyFile string `yaml:"signing_key_file"`
	SignerName     string `yaml:"signer_name"`
	// A checkpoint is sealed after CheckpointEvery records (default 1000)
	// and at least every CheckpointInterval (default 10s) while records
	// arrive; when idle, every CheckpointHeartbeat (default 10 times the
	// interval), so that a verifier can tell a quiet chain from a cut one.
	CheckpointEvery     int           `yaml:"checkpoint_every"`
	CheckpointInterval  time.Duration `yaml:"checkpoint_interval"`
	CheckpointHeartbeat time.Duration `yaml:"checkpoint_heartbeat"`
	// WitnessDir and WitnessURL publish every checkpoint off the pod: a
	// file per chain in the folder (another volume), a POST to the URL.
	WitnessDir string `yaml:"witness_dir"`
	WitnessURL string `yaml:"witness_url"`
	// RequireFIPS refuses to start unless Go's FIPS 140-3 mode is on.
	RequireFIPS bool `yaml:"require_fips"`
	// Epoch is the length of a forward-secure key epoch (default 60s; 0
	// turns epochs off): see EpochLength.
	Epoch *time.Duration `yaml:"epoch"`
}

// EpochLength is the forward-secure epoch length; 0 means off.
func (c Chain) EpochLength() time.Duration {
	if c.Epoch == nil {
		return 0
	}
	return *c.Epoch
}

// Redact selects redaction packs and rules.
type Redact struct {
	Packs []string `yaml:"packs"`
	Rules []Rule   `yaml:"rules"`
	// Paths redact whole values by key path ("*.password").
	Paths []Path `yaml:"paths"`
	// Actions sets the action of built-in types or packs ({CARD: partial}).
	Actions     map[string]string `yaml:"actions"`
	HashKeyFile string            `yaml:"hash_key_file"`
	// HashKeyID, if set, is written into hashes: hmac-sha256:<kid>:<hex>.
	HashKeyID string `yaml:"hash_key_id"`
}

// Rule is a custom redaction rule.
type Rule struct {
	Name    string `yaml:"name"`
	Pattern string `yaml:"pattern"`
	Action  string `yaml:"action"` // mask | hash | partial | drop
}

// Path is a key-path redaction rule.
type Path struct {
	Path   string `yaml:"path"`
	Action string `yaml:"action"` // mask | hash | partial | drop
	Name   string `yaml:"name"`   // type in the mask; default from the path
}

// Spool is the durable local queue.
type Spool struct {
	Path         string        `yaml:"path"`
	MaxBytes     int64         `yaml:"max_bytes"`
	BatchRecords int           `yaml:"batch_records"`
	BatchWait    time.Duration `yaml:"batch_wait"`
}

// Sink is one delivery target.
type Sink struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"` // sqlite | postgres | null
	Path string `yaml:"path"` // sqlite: the database file
	// DSN is the postgres connection string (URL or key=value form),
	// usually from ${VAR}: it may hold a password and is never logged.
	DSN string `yaml:"dsn"`
	// QueryIndexes (sqlite) names the query indexes the store keeps:
	// "user", "session" (sink.QueryIndexes). They make /v1/audit?user=
	// and ?session= pages index reads at any size, and halve the rate
	// at which the sink stores records; without them those pages walk
	// the time index, within a budget, with a resume cursor.
	QueryIndexes []string `yaml:"query_indexes"`
}

// Retention is the purge policy: records sealed more than MaxAge ago are
// purged every Interval, each purge recorded as a chained retention_purge
// record. MaxAge 0 (the default) keeps everything.
type Retention struct {
	MaxAge   time.Duration `yaml:"max_age"`
	Interval time.Duration `yaml:"interval"` // default 1h
}

// Server is the HTTP listeners: the API (Listen) and, when AdminListen is
// set, the probes and metrics on a listener of their own.
type Server struct {
	Listen     *string       `yaml:"listen"` // "" disables the listener
	QuerySink  string        `yaml:"query_sink"`
	TokensFile string        `yaml:"tokens_file"`
	ReadyGrace time.Duration `yaml:"ready_grace"`
	// AdminListen serves /healthz, /readyz, /metrics (and /debug/pprof
	// with PProf); they then leave the API listener. "" (the default)
	// keeps them on the API listener.
	AdminListen string `yaml:"admin_listen"`
	PProf       bool   `yaml:"pprof"`
	// MaxConnections caps the open connections of each listener; the
	// sidecar lowers it to what the open-file limit leaves.
	MaxConnections int      `yaml:"max_connections"`
	Timeouts       Timeouts `yaml:"timeouts"`
	TLS            TLS      `yaml:"tls"`
	// MaxConcurrentQueries bounds the GET /v1/audit requests (pages and
	// exports) served at once; past it a request waits briefly, then is
	// 429 with Retry-After.
	MaxConcurrentQueries int `yaml:"max_concurrent_queries"`
	// Console serves the read-only web console at /console/ on the API
	// listener (package console), with the same tokens as /v1/audit.
	Console bool `yaml:"console"`
}

// Log sets the log level.
type Log struct {
	Level string `yaml:"level"` // debug | info | warn | error
}

// Shutdown bounds shutdown.
type Shutdown struct {
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// ListenAddr returns the listen address ("" when disabled).
func (s Server) ListenAddr() string {
	if s.Listen == nil {
		return DefaultListen
	}
	return *s.Listen
}

// Load reads, expands, decodes, defaults, resolves and validates a config file.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	expanded, err := expand(raw, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config %s: %s", path, withKeys(expanded, oneLine(err)))
	}
	c.defaults()
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.resolve(dir)
	c.File = filepath.Join(dir, filepath.Base(path))
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

var varRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expand replaces ${VAR} and ${VAR:-default} outside comment lines.
func expand(raw []byte, lookup func(string) (string, bool)) ([]byte, error) {
	var errs []error
	lines := bytes.Split(raw, []byte("\n"))
	for i, l := range lines {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] == '#' {
			continue
		}
		lines[i] = varRE.ReplaceAllFunc(l, func(m []byte) []byte {
			sub := varRE.FindSubmatch(m)
			if v, ok := lookup(string(sub[1])); ok && v != "" {
				return []byte(v)
			}
			if sub[2] != nil {
				return sub[3]
			}
			errs = append(errs, fmt.Errorf("config line %d: ${%s} is not set", i+1, sub[1]))
			return m
		})
	}
	return bytes.Join(lines, []byte("\n")), errors.Join(errs...)
}

func oneLine(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	s = strings.TrimPrefix(s, "unmarshal errors:\n")
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

func (c *Config) defaults() {
	set := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	setDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	set(&c.Source.Format, "auto")
	set(&c.Source.Envelope, "none")
	set(&c.Source.StartAt, "beginning")
	setDur(&c.Source.Poll, DefaultPoll)
	setDur(&c.Source.RotateDrain, DefaultRotateDrain)
	if c.Source.MaxLineBytes == 0 {
		c.Source.MaxLineBytes = DefaultMaxLineBytes
	}
	if c.Source.MaxLineValues == 0 {
		c.Source.MaxLineValues = c.Source.MaxLineBytes / DefaultLineBytesPerValue
	}
	if c.Redact.Packs == nil {
		c.Redact.Packs = []string{"core", "secrets"}
	}
	for i := range c.Redact.Rules {
		set(&c.Redact.Rules[i].Action, "mask")
	}
	for i := range c.Redact.Paths {
		set(&c.Redact.Paths[i].Action, "mask")
	}
	if c.Spool.MaxBytes == 0 {
		c.Spool.MaxBytes = DefaultSpoolMaxBytes
	}
	if c.Spool.BatchRecords == 0 {
		c.Spool.BatchRecords = DefaultBatchRecords
	}
	setDur(&c.Spool.BatchWait, DefaultBatchWait)
	if len(c.Sinks) == 1 {
		set(&c.Server.QuerySink, c.Sinks[0].Name)
	}
	setDur(&c.Server.ReadyGrace, DefaultReadyGrace)
	if c.Server.MaxConnections == 0 {
		c.Server.MaxConnections = DefaultMaxConnections
	}
	if c.Server.MaxConcurrentQueries == 0 {
		c.Server.MaxConcurrentQueries = DefaultMaxConcurrentQueries
	}
	setDur(&c.Server.Timeouts.Read, DefaultReadTimeout)
	setDur(&c.Server.Timeouts.ReadHeader, min(DefaultReadHeaderTimeout, c.Server.Timeouts.Read))
	setDur(&c.Server.Timeouts.Write, DefaultWriteTimeout)
	setDur(&c.Server.Timeouts.Idle, DefaultIdleTimeout)
	set(&c.Log.Level, "info")
	setDur(&c.Shutdown.DrainTimeout, DefaultDrainTimeout)
	if c.Retention.MaxAge > 0 {
		setDur(&c.Retention.Interval, time.Hour)
	}
	if c.Chain.Epoch == nil {
		d := DefaultEpoch
		c.Chain.Epoch = &d
	}
	if c.Chain.SigningKeyFile != "" {
		set(&c.Chain.SignerName, DefaultSignerName)
		if c.Chain.CheckpointEvery == 0 {
			c.Chain.CheckpointEvery = DefaultCheckpointEvery
		}
		setDur(&c.Chain.CheckpointInterval, DefaultCheckpointInterval)
		setDur(&c.Chain.CheckpointHeartbeat, 10*c.Chain.CheckpointInterval)
	}
}

func (c *Config) resolve(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.Source.Path)
	abs(&c.Source.IdentityPath)
	for i := range c.Source.AllowedDirs {
		abs(&c.Source.AllowedDirs[i])
	}
	abs(&c.Chain.KeyFile)
	abs(&c.Chain.SigningKeyFile)
	abs(&c.Chain.WitnessDir)
	for i := range c.Chain.PreviousKeyFiles {
		abs(&c.Chain.PreviousKeyFiles[i])
	}
	abs(&c.Redact.HashKeyFile)
	abs(&c.Spool.Path)
	abs(&c.Server.TokensFile)
	abs(&c.Server.TLS.CertFile)
	abs(&c.Server.TLS.KeyFile)
	abs(&c.Server.TLS.ClientCAFile)
	for i := range c.Sinks {
		abs(&c.Sinks[i].Path)
	}
}
