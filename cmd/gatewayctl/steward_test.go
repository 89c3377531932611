package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgegate/edgegate/gateway/gatewaytest"
)

func TestPairThingsPerformRevoke(t *testing.T) {
	g := gatewaytest.Start(t, "[mdns]\ninterfaces = [\"no-such-interface\"]\n[steward]\nenabled = true\nlisten = \"127.0.0.1:0\"\npairing_code = true\n")
	sock := g.AdminSocket()
	if out := mustCtl(t, sock, "pair"); !strings.Contains(out, "pairing window closed") {
		t.Errorf("pair: %s", out)
	}
	out := mustCtl(t, sock, "pair", "open", "--for", "5m")
	if !strings.Contains(out, "pairing window open until") || !strings.Contains(out, "pairing code ") {
		t.Fatalf("pair open: %s", out)
	}
	var st struct {
		Open bool   `json:"open"`
		Code string `json:"code"`
	}
	if err := json.Unmarshal([]byte(mustCtl(t, sock, "pair", "--json")), &st); err != nil || !st.Open || len(st.Code) != 6 {
		t.Fatalf("pair --json: %+v %v", st, err)
	}
	if _, err := ctl(t, sock, "pair", "open", "--for", "48h"); err == nil {
		t.Error("a 48h window was accepted")
	}

	ctx := context.Background()
	url := "wss://" + g.StewardAddr().String() + "/native"
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}}) //nolint:gosec // the steward's own tests pin it
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	call := func(s string) map[string]any {
		t.Helper()
		if err := c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
			t.Fatal(err)
		}
		return read(t, c)
	}
	pass, _ := call(`{"path":"/api/v1/pair","requestID":1,"uuid":"lamp-1","pairingCode":"` + st.Code + `"}`)["result"].(map[string]any)["passCode"].(string)
	if pass == "" {
		t.Fatal("no passcode")
	}
	mustCtl(t, sock, "pair", "close")
	call(`{"path":"/api/v1/hello","requestID":2,"uuid":"lamp-1","passcode":"` + pass + `"}`)
	call(`{"path":"/api/v1/prototype","requestID":3,"things":{"/device/lighting/x/lamp":{"perform":["on"],"properties":{"status":["on","off"],"brightness":"percentage"}}}}`)
	call(`{"path":"/api/v1/register","requestID":4,"things":{"lamp-udn":{"prototype":"/device/lighting/x/lamp","name":"desk lamp","info":{"brightness":30}}}}`)

	out = mustCtl(t, sock, "things")
	if !strings.Contains(out, "native:lamp-udn") || !strings.Contains(out, "brightness=30 %") || !strings.Contains(out, "lamp-1") || !strings.Contains(out, "native") {
		t.Errorf("things: %s", out)
	}
	done := make(chan string, 1)
	go func() {
		out, err := ctl(t, sock, "things", "perform", "native:lamp-udn", "on", "level=80")
		if err != nil {
			out += err.Error()
		}
		done <- out
	}()
	task := read(t, c)
	tasks, _ := task["tasks"].(map[string]any)
	for id, e := range tasks {
		if p := e.(map[string]any)["parameter"]; p != `{"level":"80"}` {
			t.Errorf("parameter %v", p)
		}
		_ = c.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"requestID":%q,"tasks":{%q:{"status":"success"}}}`, task["requestID"], id))
	}
	if out := <-done; !strings.Contains(out, "native:lamp-udn on: done (performed)") {
		t.Errorf("things perform: %s", out)
	}
	if _, err := ctl(t, sock, "things", "perform", "native:lamp-udn"); err == nil {
		t.Error("perform without an action accepted")
	}
	if out := mustCtl(t, sock, "status"); !strings.Contains(out, "steward      ") || !strings.Contains(out, " attached=1 clients=1 connections=1 ") {
		t.Errorf("status: %s", out)
	}
	if out := mustCtl(t, sock, "pair", "revoke", "lamp-1"); !strings.Contains(out, "revoked the pairing of lamp-1") {
		t.Errorf("revoke: %s", out)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, _, err := c.Read(rctx); websocket.CloseStatus(err) != 4001 {
		t.Errorf("socket after revoke: %v", err)
	}
	if _, err := ctl(t, sock, "pair", "revoke", "lamp-1"); err == nil || !strings.Contains(err.Error(), "unknown client") {
		t.Errorf("second revoke: %v", err)
	}
}

func read(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
