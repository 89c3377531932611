package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/oco"
)

// OCOConfig makes the gateway a managed agent of an OCO server ([oco]).
type OCOConfig struct {
	// Enabled turns the agent on (default off).
	Enabled bool `toml:"enabled"`
	// URL is the server's agent API, "https://oco.example.com/api-agent.php".
	URL string `toml:"url"`
	// Generation is auto (default), current (servers from v1.1.7) or
	// legacy (servers up to v1.0.1).
	Generation string `toml:"generation"`
	// Hostname is the gateway's identity on the server (default: the host
	// name without its domain).
	Hostname string `toml:"hostname"`
	// RegistrationKey is the server's agent registration key, used for the
	// first hello only; RegistrationKeyFile names a first-boot file holding
	// it instead (read at start; a missing file is not an error once the
	// gateway is registered).
	RegistrationKey     oco.Secret `toml:"registration_key"`
	RegistrationKeyFile string     `toml:"registration_key_file"`
	// Interval between hellos (default 60s); MaxBackoff caps the wait
	// after failures (default 15m); RequestTimeout bounds a request
	// (default 2m).
	Interval       Duration `toml:"interval"`
	MaxBackoff     Duration `toml:"max_backoff"`
	RequestTimeout Duration `toml:"request_timeout"`
	// CAFile holds PEM certificates to trust for the server besides the
	// system's (a server with a private CA).
	CAFile string        `toml:"ca_file"`
	Jobs   OCOJobsConfig `toml:"jobs"`
}

// OCOJobsConfig configures the deploy jobs ([oco.jobs]).
type OCOJobsConfig struct {
	// RunAs is the unprivileged account procedures run as when gatewayd
	// runs as root; without it a root gatewayd refuses every job.
	RunAs string `toml:"run_as"`
	// Timeout bounds a job's download and procedure (default 1h).
	Timeout Duration `toml:"timeout"`
	// MaxPackageMB, MaxUnpackedMB and MaxFiles bound a package (defaults
	// 256, 1024, 10000).
	MaxPackageMB  int64 `toml:"max_package_mb"`
	MaxUnpackedMB int64 `toml:"max_unpacked_mb"`
	MaxFiles      int   `toml:"max_files"`
	// OutputKB bounds the output kept and reported (default 32).
	OutputKB int `toml:"output_kb"`
	// ReportInterval: how often a running procedure's output is reported
	// (default 5s).
	ReportInterval Duration `toml:"report_interval"`
	// AllowRestart, AllowShutdown and AllowExit let the jobs' post-actions
	// happen (default: logged and skipped). Exit stops gatewayd with an
	// error, for its supervisor to start it again.
	AllowRestart  bool `toml:"allow_restart"`
	AllowShutdown bool `toml:"allow_shutdown"`
	AllowExit     bool `toml:"allow_exit"`
}

// validate checks [oco].
func (c *OCOConfig) validate() error {
	bad := func(key string, val any, why string) error {
		return fmt.Errorf("%w: oco.%s = %v: %s", ErrConfig, key, val, why)
	}
	if _, err := oco.ParseGeneration(c.Generation); err != nil {
		return bad("generation", fmt.Sprintf("%q", c.Generation), "must be auto, current or legacy")
	}
	if !c.Enabled {
		return nil
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("url", fmt.Sprintf("%q", c.URL), "must be http(s)://host/.../api-agent.php")
	}
	if u.User != nil {
		return bad("url", "(hidden)", "must not hold credentials")
	}
	if strings.ContainsAny(c.Hostname, " \t\r\n\x00") {
		return bad("hostname", fmt.Sprintf("%q", c.Hostname), "must be one word")
	}
	if !c.RegistrationKey.IsZero() && c.RegistrationKeyFile != "" {
		return bad("registration_key_file", fmt.Sprintf("%q", c.RegistrationKeyFile), "set registration_key or registration_key_file, not both")
	}
	if i := c.Interval.Duration; i != 0 && i < time.Second {
		return bad("interval", i, "must be at least 1s")
	}
	j := c.Jobs
	if j.MaxPackageMB < 0 || j.MaxUnpackedMB < 0 || j.MaxFiles < 0 || j.OutputKB < 0 {
		return fmt.Errorf("%w: oco.jobs: limits must not be negative", ErrConfig)
	}
	return nil
}

// openOCO starts the OCO agent when [oco] enables it, and adds its admin
// endpoints (which say the agent is off otherwise).
func (g *Gateway) openOCO() error {
	c := g.cfg.OCO
	if g.adminSrv != nil {
		g.adminSrv.HandleJSON("GET /v1/oco/status", func(*http.Request) (any, error) {
			if g.oco == nil {
				return nil, errOCOOff
			}
			return g.oco.Status()
		})
		g.adminSrv.HandleJSON("POST /v1/oco/forget-keys", func(*http.Request) (any, error) {
			if g.oco == nil {
				return nil, errOCOOff
			}
			if err := g.oco.ForgetKeys(); err != nil {
				return nil, err
			}
			return g.oco.Status()
		})
	}
	if !c.Enabled {
		return nil
	}
	gen, _ := oco.ParseGeneration(c.Generation)
	key := c.RegistrationKey
	if c.RegistrationKeyFile != "" {
		b, err := os.ReadFile(c.RegistrationKeyFile)
		switch {
		case err == nil:
			key = oco.NewSecret(strings.TrimSpace(string(b)))
		case errors.Is(err, fs.ErrNotExist):
			g.log.Info("oco: no registration key file (needed only to register)", "file", c.RegistrationKeyFile)
		default:
			return fmt.Errorf("gateway: oco.registration_key_file: %w", err)
		}
	}
	host := c.Hostname
	if host == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			return fmt.Errorf("gateway: oco: no host name (set oco.hostname): %v", err)
		}
		host, _, _ = strings.Cut(h, ".")
	}
	tr, err := ocoTransport(c.CAFile)
	if err != nil {
		return err
	}
	j := c.Jobs
	agent, err := oco.New(oco.Options{
		URL: c.URL, Generation: gen, Hostname: host, UID: g.id.UUID, RegistrationKey: key, Version: g.cfg.Version,
		Interval: c.Interval.Duration, MaxBackoff: c.MaxBackoff.Duration, RequestTimeout: c.RequestTimeout.Duration,
		Transport: tr, KV: g.db.KV("oco"), WorkDir: filepath.Join(g.data, "oco"), Logger: g.log.With("subsystem", "oco"),
		Jobs: oco.JobOptions{RunAs: j.RunAs, Timeout: j.Timeout.Duration, MaxPackageBytes: j.MaxPackageMB << 20,
			MaxUnpackedBytes: j.MaxUnpackedMB << 20, MaxFiles: j.MaxFiles, OutputLimit: j.OutputKB << 10,
			ReportInterval: j.ReportInterval.Duration, AllowRestart: j.AllowRestart, AllowShutdown: j.AllowShutdown,
			AllowExit: j.AllowExit},
	})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	g.oco = agent
	g.addService("oco", agent.Run, nil)
	return nil
}

// errOCOOff answers the OCO endpoints when the agent is off.
var errOCOOff = fmt.Errorf("%w: the OCO agent is off: set [oco] enabled = true and url in gatewayd's configuration", admin.ErrUnavailable)

// ocoTransport is the agent's HTTP transport: TLS 1.2 or later, the
// system's roots plus caFile's.
func ocoTransport(caFile string) (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("gateway: oco.ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("gateway: oco.ca_file %s: no PEM certificate", caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return tr, nil
}
