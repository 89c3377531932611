package steward

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"

	"github.com/coder/websocket"
)

type httpClient struct{ pool *x509.CertPool }

func (h *httpClient) options() *websocket.DialOptions {
	return &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: h.pool, MinVersion: tls.VersionTLS12}}}}
}
