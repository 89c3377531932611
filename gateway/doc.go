// Package gateway wires edgegate's services together: the store, the OSP
// server and its links. Run starts them under one context and stops them in
// reverse order; it owns every goroutine it starts.
package gateway
