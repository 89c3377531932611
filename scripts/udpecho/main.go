// Command udpecho is a minimal UDP echo server: the kernel's floor that
// scripts/bench-osp.sh compares gatewayd with (driven by `ospsim -echo`).
// It prints its address on the first line of stdout, echoes every datagram
// back to its sender from several reader goroutines on one socket, and
// stops on SIGINT or SIGTERM, printing how many datagrams it echoed.
//
// Usage:
//
//	udpecho [-listen 127.0.0.1:0] [-readers N]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/edgegate/edgegate/scripts/udpecho/echo"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "udpecho:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("udpecho", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "UDP address to listen on")
	readers := fs.Int("readers", max(2, runtime.GOMAXPROCS(0)), "reader goroutines on the socket")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pc, err := net.ListenPacket("udp", *listen)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := echo.New(pc, *readers)
	fmt.Fprintln(stdout, s.Addr())
	err = s.Serve(ctx)
	fmt.Fprintf(stderr, "udpecho: %d datagrams echoed, %d sends refused\n", s.Echoed(), s.SendErrors())
	return err
}
