// Command ocsd is a standalone Owner Companion Service: the OCS REST
// contract of the SDO IoT Platform SDK (gateway/ocs) served from one bbolt
// file, over mutual TLS 1.3 as the reference deploys it. It is the upstream
// edgegate forwards to, and what OPS and To0Scheduler talk to.
//
// Usage:
//
//	ocsd [-listen ADDR] [-data DIR]
//	     [-cert FILE -key FILE | -hostname NAME ... -key-type ec|rsa]
//	     -client-cert FILE ... | -client-pin SHA256 ... | -plain
//	     [-owner-key FILE | -owner-key-type ec|rsa]
//	     [-to0 URL [-to0-cert FILE ...] [-to0-pin SHA256 ...] [-to0-interval D] [-to0-wait S]]
//	     [-credential-reuse] [-no-resale] [-log-level LEVEL]
//
// Without -cert/-key, the server's key pair is generated on first start in
// the data directory (ocsd-key.pem, ocsd-cert.pem) and kept; its SHA-256
// fingerprint is logged for clients to pin. Clients must present a
// certificate named by -client-cert (a PEM file holding the peer's own
// certificate, as in the reference's trust store) or pinned by -client-pin.
// -plain serves HTTP without TLS and is refused anywhere but on loopback.
//
// The owner key (signatures and ciphers) is kept in the database: imported
// from -owner-key (PEM; ECDSA P-256/P-384 or RSA 2048..4096), or generated
// on first start (-owner-key-type, ec by default; ciphers need rsa).
//
// With -to0, ocsd asks that To0Scheduler every -to0-interval to run TO0 for
// the devices due, presenting its own server certificate as the client
// certificate (as ocsfs does). SIGTERM and SIGINT stop it cleanly.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/edgegate/edgegate/gateway/certs"
	"github.com/edgegate/edgegate/gateway/httpserve"
	"github.com/edgegate/edgegate/gateway/ocs"
)

var version = "dev"

// DBFile is the database's file name inside the data directory.
const DBFile = "ocsd.db"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ocsd:", err)
		os.Exit(1)
	}
}

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

type options struct {
	listen, data, cert, key, keyType string
	hostnames                        list
	clientCerts, clientPins          list
	plain                            bool
	ownerKey, ownerKeyType           string
	to0                              string
	to0Certs, to0Pins                list
	to0Interval                      time.Duration
	to0Wait                          string
	credentialReuse, noResale        bool
	logLevel                         string
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("ocsd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:9009", "address to serve on (9009 is the reference's port)")
	fs.StringVar(&o.data, "data", "/var/lib/ocsd", "data directory: the database and generated key pairs")
	fs.StringVar(&o.cert, "cert", "", "server certificate (PEM); with -key; default: generated in -data")
	fs.StringVar(&o.key, "key", "", "server private key (PEM)")
	fs.Var(&o.hostnames, "hostname", "a host name for the generated certificate (repeatable; default localhost)")
	fs.StringVar(&o.keyType, "key-type", "ec", "key type of a generated server key pair: ec (P-256) or rsa (2048)")
	fs.Var(&o.clientCerts, "client-cert", "a trusted client certificate, PEM (repeatable)")
	fs.Var(&o.clientPins, "client-pin", "a trusted client certificate's SHA-256 fingerprint (repeatable)")
	fs.BoolVar(&o.plain, "plain", false, "serve plain HTTP without TLS (loopback only)")
	fs.StringVar(&o.ownerKey, "owner-key", "", "import this owner private key (PEM) into the database")
	fs.StringVar(&o.ownerKeyType, "owner-key-type", "ec", "type of a generated owner key: ec (P-256) or rsa (2048)")
	fs.StringVar(&o.to0, "to0", "", "To0Scheduler base URL (e.g. https://to0scheduler:8049); empty: no TO0 requests")
	fs.Var(&o.to0Certs, "to0-cert", "a trusted To0Scheduler certificate, PEM (repeatable)")
	fs.Var(&o.to0Pins, "to0-pin", "a trusted To0Scheduler certificate's SHA-256 fingerprint (repeatable)")
	fs.DurationVar(&o.to0Interval, "to0-interval", 60*time.Second, "interval of the TO0 requests")
	fs.StringVar(&o.to0Wait, "to0-wait", "7200", "waitSeconds of the TO0 requests")
	fs.BoolVar(&o.credentialReuse, "credential-reuse", false, "setupinfo keeps the device's GUID (to2.credential-reuse.enabled)")
	fs.BoolVar(&o.noResale, "no-resale", false, "resale answers false (to2.owner-resale.enabled=false)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *showVersion {
		fmt.Fprintln(stderr, "ocsd", version)
		return nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("-log-level %q: %w", o.logLevel, err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	return serve(ctx, o, log)
}

func serve(ctx context.Context, o options, log *slog.Logger) error {
	if o.plain {
		if err := ocs.CheckPlainListen(o.listen); err != nil {
			return fmt.Errorf("-plain: %w", err)
		}
	}
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return fmt.Errorf("-data: %w", err)
	}
	var tlsCfg *tls.Config
	var cert tls.Certificate
	if !o.plain || o.to0 != "" {
		var err error
		if cert, err = serverCert(o); err != nil {
			return err
		}
		log.Info("server certificate", "subject", cert.Leaf.Subject.CommonName, "sha256", certs.SHA256(cert.Certificate[0]))
	}
	if !o.plain {
		clients, err := ocs.LoadTrust(o.clientCerts, o.clientPins)
		if err != nil {
			return fmt.Errorf("-client-cert/-client-pin: %w", err)
		}
		if clients.Empty() {
			return errors.New("no client is trusted: name the clients' certificates with -client-cert or -client-pin (or -plain on loopback)")
		}
		if tlsCfg, err = ocs.ServerTLS(cert, clients); err != nil {
			return err
		}
	}
	st, err := ocs.OpenStore(filepath.Join(o.data, DBFile))
	if err != nil {
		return err
	}
	defer st.Close()
	if err := ownerKey(st, o, log); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	hs := &http.Server{
		Handler:           ocs.NewServer(st, ocs.ServerOptions{Version: version, CredentialReuse: o.credentialReuse, NoResale: o.noResale, Log: log}),
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var to0 sync.WaitGroup
	if o.to0 != "" {
		servers, err := ocs.LoadTrust(o.to0Certs, o.to0Pins)
		if err != nil {
			ln.Close()
			return fmt.Errorf("-to0-cert/-to0-pin: %w", err)
		}
		sched, err := ocs.Dial(o.to0, ocs.ClientOptions{Cert: cert, Servers: servers, Timeout: 10 * time.Second})
		if err != nil {
			ln.Close()
			return fmt.Errorf("-to0: %w", err)
		}
		defer sched.Close()
		to0.Go(func() {
			_ = ocs.RunTo0(ctx, st, ocs.To0Options{Scheduler: sched, Interval: o.to0Interval,
				FirstDelay: min(5*time.Second, o.to0Interval), WaitSeconds: o.to0Wait, Log: log})
		})
		log.Info("to0 requests", "scheduler", o.to0, "interval", o.to0Interval)
	}
	log.Info("ocsd listening", "addr", ln.Addr().String(), "tls", tlsCfg != nil, "version", version)
	err = httpserve.Serve(ctx, hs, ln)
	cancel()
	to0.Wait()
	if err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// serverCert loads -cert/-key or the generated key pair.
func serverCert(o options) (tls.Certificate, error) {
	if o.cert != "" || o.key != "" {
		if o.cert == "" || o.key == "" {
			return tls.Certificate{}, errors.New("-cert and -key go together")
		}
		c, err := tls.LoadX509KeyPair(o.cert, o.key)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("-cert/-key: %w", err)
		}
		return c, nil
	}
	spec := certs.Spec{Name: "ocsd", DNSNames: o.hostnames}
	switch o.keyType {
	case "ec":
		spec.Key = certs.ECDSAP256
	case "rsa":
		spec.Key = certs.RSA2048
	default:
		return tls.Certificate{}, fmt.Errorf("-key-type %q: want ec or rsa", o.keyType)
	}
	if len(spec.DNSNames) == 0 {
		spec.DNSNames = []string{"localhost"}
	}
	spec.Subject = pkix.Name{CommonName: spec.DNSNames[0], Organization: []string{"edgegate ocsd"}}
	spec.IPs = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if host, _, err := net.SplitHostPort(o.listen); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
			spec.IPs = append(spec.IPs, ip)
		}
	}
	c, err := certs.LoadOrCreate(o.data, spec)
	if err != nil {
		return tls.Certificate{}, err
	}
	return c, nil
}

// ownerKey imports -owner-key, or generates a key when the store has none.
func ownerKey(st *ocs.Store, o options, log *slog.Logger) error {
	if o.ownerKey != "" {
		b, err := os.ReadFile(o.ownerKey)
		if err != nil {
			return fmt.Errorf("-owner-key: %w", err)
		}
		k, err := ocs.ParseOwnerKey(b)
		if err != nil {
			return fmt.Errorf("-owner-key %s: %w", o.ownerKey, err)
		}
		if err := st.SetOwnerKey(k); err != nil {
			return err
		}
		logOwnerKey(log, "owner key imported", k.Public())
		return nil
	}
	if k, err := st.OwnerKey(); err == nil {
		logOwnerKey(log, "owner key", k.Public())
		return nil
	} else if !errors.Is(err, ocs.ErrNoOwnerKey) {
		return err
	}
	var rsaKey bool
	switch o.ownerKeyType {
	case "ec":
	case "rsa":
		rsaKey = true
	default:
		return fmt.Errorf("-owner-key-type %q: want ec or rsa", o.ownerKeyType)
	}
	k, err := ocs.GenerateOwnerKey(rsaKey)
	if err != nil {
		return fmt.Errorf("owner key: %w", err)
	}
	if err := st.SetOwnerKey(k); err != nil {
		return err
	}
	logOwnerKey(log, "owner key generated", k.Public())
	return nil
}

// logOwnerKey logs the public half only: its algorithm and the SHA-256 of
// its SubjectPublicKeyInfo.
func logOwnerKey(log *slog.Logger, msg string, pub any) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return
	}
	log.Info(msg, "type", fmt.Sprintf("%T", pub), "spki_sha256", certs.SHA256(der))
}
