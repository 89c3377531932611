// Package httpserve runs an http.Server for as long as a context lasts, the
// way each of the gateway's HTTP endpoints (the admin API, the status page,
// the bundled OCS) serves and shuts down: Serve returns when the context
// ends, after the running requests had a few seconds to finish.
package httpserve
