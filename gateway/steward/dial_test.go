package steward

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"

	"github.com/coder/websocket"
)

// dialOptions make a WebSocket client trust only the certificates in pool.
func dialOptions(pool *x509.CertPool) *websocket.DialOptions {
	return &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}}
}
