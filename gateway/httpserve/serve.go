package httpserve

import (
	"context"
	"net"
	"net/http"
	"time"
)

// ShutdownTimeout is how long Serve lets running requests finish once its
// context has ended.
const ShutdownTimeout = 5 * time.Second

// Serve answers on ln with hs until ctx ends, over TLS when hs.TLSConfig is
// set (its certificates are the server's). Then it stops accepting, lets
// the running requests finish for up to ShutdownTimeout and returns nil.
// If serving fails first, it returns the server's error.
func Serve(ctx context.Context, hs *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() {
		if hs.TLSConfig != nil {
			errc <- hs.ServeTLS(ln, "", "")
			return
		}
		errc <- hs.Serve(ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	_ = hs.Shutdown(sctx)
	<-errc
	return nil
}
