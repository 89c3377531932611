package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/certs"
	"github.com/edgegate/edgegate/gateway/mdns"
	"github.com/edgegate/edgegate/gateway/osp"
)

// The end-to-end tests of the JOSP endpoint: a JOSP service written here
// from the wire format alone (no code of the endpoint or its codec) finds
// the gateway's objects by mDNS on loopback and talks to them while an OSP
// sensor sends readings and answers commands.

// jospService is a JOSP service's connection to one object.
type jospService struct {
	t      *testing.T
	nc     net.Conn
	full   string
	objID  string
	frames chan string
	closed chan struct{}
}

// jospMsg is a message split into its header and lines.
type jospMsg struct {
	typ   string
	lines []string // after the header
	raw   string
}

// field returns line i's value (after its first ':').
func (m jospMsg) field(i int) string {
	if i >= len(m.lines) {
		return ""
	}
	_, v, ok := strings.Cut(m.lines[i], ":")
	if !ok {
		return m.lines[i]
	}
	return v
}

// readFrames cuts the stream at "##" and queues the non-empty frames.
func (s *jospService) readFrames(r io.Reader) {
	defer close(s.closed)
	var buf []byte
	chunk := make([]byte, 4096)
	for {
		n, err := r.Read(chunk)
		buf = append(buf, chunk[:n]...)
		for {
			i := bytes.Index(buf, []byte("##"))
			if i < 0 {
				break
			}
			if i > 0 {
				s.frames <- string(buf[:i])
			}
			buf = buf[i+2:]
		}
		if err != nil {
			return
		}
	}
}

// connectJOSP opens a service's connection on nc: it reads the object's
// `\n<objId>\n` line and, unless its certificate names it, sends its own
// fullSrvId line.
func connectJOSP(t *testing.T, nc net.Conn, full string, sendID bool) *jospService {
	t.Helper()
	s := &jospService{t: t, nc: nc, full: full, frames: make(chan string, 1024), closed: make(chan struct{})}
	t.Cleanup(func() { nc.Close() })
	go s.readFrames(nc)
	first := s.next()
	if !strings.HasPrefix(first, "\n") || !strings.HasSuffix(first, "\n") || len(first) != 19 {
		t.Fatalf("first frame %q, want \\n<objId>\\n", first)
	}
	s.objID = strings.TrimSpace(first)
	if sendID {
		s.write(full + "\n")
	}
	return s
}

func (s *jospService) write(frame string) {
	s.t.Helper()
	if _, err := io.WriteString(s.nc, frame+"##"); err != nil {
		s.t.Fatal(err)
	}
}

func (s *jospService) next() string {
	s.t.Helper()
	select {
	case f := <-s.frames:
		return f
	case <-time.After(10 * time.Second):
		s.t.Fatal("no frame from the object")
	}
	return ""
}

// expect returns the next message, which must be of type typ, skipping
// heartbeat requests (answered).
func (s *jospService) expect(typ string) jospMsg {
	s.t.Helper()
	for {
		f := s.next()
		if f == "hb_rq" {
			s.write("hb_rs")
			continue
		}
		lines := strings.Split(f, "\n")
		hdr := strings.Fields(lines[0])
		if len(hdr) != 3 || hdr[0] != "JOSP/2.0" || len(hdr[2]) != 18 {
			s.t.Fatalf("frame %q is no JOSP/2.0 message", f)
		}
		if hdr[1] != typ {
			s.t.Fatalf("got %s, want %s: %q", hdr[1], typ, f)
		}
		m := jospMsg{typ: hdr[1], lines: lines[1:], raw: f}
		if m.field(0) != s.objID {
			s.t.Fatalf("%s for object %q on %s's connection", typ, m.field(0), s.objID)
		}
		return m
	}
}

// quiet checks that no message comes for d.
func (s *jospService) quiet(d time.Duration) {
	s.t.Helper()
	select {
	case f := <-s.frames:
		s.t.Fatalf("unexpected frame %q", f)
	case <-time.After(d):
	}
}

// presentation reads OBJ_INF, OBJ_STRUCT, (CoOwner) OBJ_PERMS and
// SRV_PERMS, and returns the info and the structure JSON.
func (s *jospService) presentation(level string) (info jospMsg, structure string) {
	s.t.Helper()
	info = s.expect("OBJ_INF_MSG")
	st := s.expect("OBJ_STRUCT_MSG")
	structure = strings.Join(st.lines[1:], "\n")
	if level == "CoOwner" {
		s.expect("OBJ_PERMS_MSG")
	}
	sp := s.expect("SRV_PERMS_MSG")
	if sp.field(1) != level || sp.field(2) != "OnlyLocal" {
		s.t.Fatalf("SRV_PERMS %q, want %s OnlyLocal", sp.raw, level)
	}
	return info, structure
}

func jospNow() string { return time.Now().Format("20060102-150405") + "000" }

func (s *jospService) command(path, cmdType, payload string) {
	s.write(fmt.Sprintf("JOSP/2.0 CMD_MSG %s\nfullSrvId:%s\nobjId:%s\ncompPath:%s\ncmdType:%s\n%s", jospNow(), s.full, s.objID, path, cmdType, payload))
}

// historyItem is one row of an H_STATUS_MSG answer.
type historyItem struct {
	id      int64
	at      string
	payload string
}

func (s *jospService) history(path, reqID, limits string) []historyItem {
	s.t.Helper()
	s.write(fmt.Sprintf("JOSP/2.0 H_HISTORY_MSG %s\nfullSrvId:%s\nobjId:%s\ncompPath:%s\nreqId:%s\nlimits:%s", jospNow(), s.full, s.objID, path, reqID, limits))
	m := s.expect("H_STATUS_MSG")
	if m.field(1) != path || m.field(2) != reqID {
		s.t.Fatalf("history answer %q to %s %s", m.raw, path, reqID)
	}
	var out []historyItem
	for _, line := range m.lines[3:] {
		if line == "" {
			continue
		}
		f := strings.Split(line, ";")
		if len(f) != 5 || !strings.HasPrefix(f[0], "id:") || f[1] != "compPath:"+path || f[2] != "compType:RangeState" {
			s.t.Fatalf("history row %q", line)
		}
		id, err := strconv.ParseInt(strings.TrimPrefix(f[0], "id:"), 10, 64)
		if err != nil {
			s.t.Fatal(err)
		}
		out = append(out, historyItem{id: id, at: strings.TrimPrefix(f[3], "updatedAt:"), payload: strings.TrimPrefix(f[4], "payload:")})
	}
	return out
}

// discoverJOSP browses _josp2._tcp on loopback for an instance named
// name-NNNN and returns its address.
func discoverJOSP(t *testing.T, name string) string {
	t.Helper()
	for try := 0; try < 5; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		entries, err := mdns.Browse(ctx, "_josp2._tcp", []string{"lo"})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			inst, ok := strings.CutPrefix(e.Instance, name+"-")
			if !ok {
				continue
			}
			// The reference's TXT record: the instance id alone.
			if len(e.Text) != 1 || e.Text[0] != inst {
				t.Fatalf("instance %q has TXT %q, want [%q]", e.Instance, e.Text, inst)
			}
			if n, err := strconv.Atoi(inst); err != nil || n < 0 || n > 9999 {
				t.Fatalf("instance id %q", inst)
			}
			for _, a := range e.Addrs {
				if a.Is4() && a.IsLoopback() {
					return net.JoinHostPort(a.String(), strconv.Itoa(e.Port))
				}
			}
		}
	}
	t.Fatalf("no %s-NNNN._josp2._tcp on lo", name)
	return ""
}

// jospSensor provisions a thermo sensor and opens its session; it answers
// every COMMAND with exit code 0 and queues the scripts.
func jospSensor(t *testing.T, r *rig, module uint32) (*sensor, chan string) {
	t.Helper()
	r.add(admin.DeviceSpec{ID: admin.DeviceID{Type: 1, Module: module}, Profile: "thermo", Name: "greenhouse"})
	scripts := make(chan string, 16)
	s := newSensor(t, r.g.UDPAddr(), osp.DeviceID{Type: 1, Module: module}, osp.Security{}, func(s *sensor, e osp.ClientEvent) {
		if e.Kind == osp.ClientCommand {
			scripts <- string(e.Command.Script)
			_ = s.cl.RespondCommand(e.Command.ID, 0, []byte("ok"))
		}
	})
	s.open()
	return s, scripts
}

// climate is a thermo DATA payload: temperature in hundredths of a
// degree, humidity 50.0 %, battery 90 %.
func climate(centi int16) []byte {
	return []byte{byte(uint16(centi) >> 8), byte(centi), 0x01, 0xf4, 90}
}

const jospConfig = `
[mdns]
interfaces = ["lo"]
[josp]
enabled = true
coowners = ["installer"]
`

func TestJOSPEndToEndPlain(t *testing.T) {
	r := startGateway(t, t.TempDir(), jospConfig)
	ctx := context.Background()
	s, scripts := jospSensor(t, r, 4242)
	addr := discoverJOSP(t, "greenhouse")

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	app := connectJOSP(t, nc, "app/alice/1", true)
	info, structure := app.presentation("State")
	if info.field(1) != "greenhouse" || info.field(2) != "2.2.4" || info.field(3) != "00000-00000-00000" || info.field(4) != "thermo" || info.field(7) != "false" {
		t.Errorf("OBJ_INF %q", info.raw)
	}
	for _, want := range []string{`{"name":"temperature","descr":"Cel","min":-327.68,"max":327.67,"step":0.01,"state":"0.0","type":"RangeState"`,
		`{"name":"setInterval","descr":"","min":0.0,"max":100.0,"step":10.0,"state":"0.0","type":"RangeAction"`,
		`{"name":"reboot","descr":"","state":"false","type":"BooleanAction","stateBoolean":false}`} {
		if !strings.Contains(structure, want) {
			t.Errorf("structure lacks %s:\n%s", want, structure)
		}
	}
	nc2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	installer := connectJOSP(t, nc2, "installer/root/1", true)
	installer.presentation("CoOwner")

	// A reading becomes an update for every service.
	s.sendAcked(10, climate(2500))
	for _, svc := range []*jospService{app, installer} {
		got := map[string]string{}
		for range 3 {
			u := svc.expect("UPD_MSG")
			got[u.field(1)] = u.field(2) + " " + strings.Join(u.lines[3:], "\n")
		}
		if got["Properties>temperature"] != "JOSPRange new=25.000000,old=0.000000" || got["Properties>battery"] != "JOSPRange new=90.000000,old=0.000000" {
			t.Errorf("updates %q", got)
		}
	}

	// A State service may not act.
	app.command("Actions>setInterval", "JOSPRange", "new=60.000000,old=0.000000")
	select {
	case sc := <-scripts:
		t.Fatalf("a State service's command reached the sensor: %q", sc)
	case <-time.After(300 * time.Millisecond):
	}
	// The installer may: the command reaches the sensor as an OSP COMMAND
	// and is answered by the update.
	installer.command("Actions>setInterval", "JOSPRange", "new=60.000000,old=0.000000")
	if sc := <-scripts; sc != "interval 60" {
		t.Errorf("COMMAND %q", sc)
	}
	for _, svc := range []*jospService{installer, app} {
		if u := svc.expect("UPD_MSG"); u.field(1) != "Actions>setInterval" || u.lines[3] != "new=60.000000,old=0.000000" {
			t.Errorf("answer %q", u.raw)
		}
	}

	// The installer grants the app Actions; every service is re-synced.
	installer.write(fmt.Sprintf("JOSP/2.0 OBJ_ADDPERM_MSG %s\nfullSrvId:installer/root/1\nobjId:%s\nsrvId:app\nusrId:alice\npermType:Actions\nconnType:OnlyLocal", jospNow(), installer.objID))
	installer.expect("OBJ_INF_MSG")
	installer.expect("OBJ_STRUCT_MSG")
	perms := installer.expect("OBJ_PERMS_MSG")
	if !strings.Contains(perms.raw, ";srvId:app;usrId:alice;type:Actions;conn:OnlyLocal;upd:") {
		t.Errorf("OBJ_PERMS %q", perms.raw)
	}
	installer.expect("SRV_PERMS_MSG")
	app.expect("OBJ_INF_MSG")
	app.expect("OBJ_STRUCT_MSG")
	if sp := app.expect("SRV_PERMS_MSG"); sp.field(1) != "Actions" {
		t.Fatalf("app's level %q", sp.raw)
	}
	app.command("Actions>reboot", "JOSPBoolean", "new=true,old=false")
	if sc := <-scripts; sc != "reboot" {
		t.Errorf("COMMAND %q", sc)
	}
	app.expect("UPD_MSG")
	installer.expect("UPD_MSG")

	// History: more readings, then every kind of limits.
	for _, c := range []int16{2510, 2520, 2530, 2540} {
		s.sendAcked(10, climate(c))
		// Temperature changes; humidity and battery do not.
		app.expect("UPD_MSG")
		installer.expect("UPD_MSG")
	}
	const temp = "Properties>temperature"
	// The history is written just after the hub's update (the projector's
	// batch): ask until the last reading is in.
	var all []historyItem
	eventually(t, "the last reading in the history", func() bool {
		all = app.history(temp, "1", "{}")
		return len(all) == 5
	})
	var vals []string
	for _, it := range all {
		vals = append(vals, it.payload)
	}
	if strings.Join(vals, " ") != "new=25.000000,old=0.000000 new=25.100000,old=25.000000 new=25.200000,old=25.100000 new=25.300000,old=25.200000 new=25.400000,old=25.300000" {
		t.Fatalf("history %q", vals)
	}
	ids := func(items []historyItem) string {
		var out []string
		for _, it := range items {
			for i, a := range all {
				if a.id == it.id {
					out = append(out, strconv.Itoa(i))
				}
			}
		}
		return strings.Join(out, ",")
	}
	ms := func(i int) int64 { return all[i].id / 1e6 } // ids are Unix nanoseconds
	for _, tc := range []struct{ limits, want string }{
		{`{ "latestCount":"2" }`, "3,4"},
		{`{ "ancientCount":"3" }`, "0,1,2"},
		{fmt.Sprintf(`{"fromDate":"%d", "toDate":"%d"}`, ms(1), ms(3)+1), "1,2,3"},
		{`{"pageNum":"1", "pageSize":"2"}`, "2,3"},
		{`{"pageNum":"2", "pageSize":"2"}`, "4"},
		{fmt.Sprintf(`{"fromID":"%d", "toID":"%d"}`, all[2].id, all[3].id), "2,3"},
	} {
		if got := ids(app.history(temp, "q", tc.limits)); got != tc.want {
			t.Errorf("limits %s: items %s, want %s", tc.limits, got, tc.want)
		}
	}

	// The admin API and its counters.
	var objs []struct {
		ThingID  string `json:"thingId"`
		ObjID    string `json:"objId"`
		Services int    `json:"services"`
	}
	if err := r.api.Call(ctx, "GET", "/v1/josp/objects", nil, &objs); err != nil || len(objs) != 1 || objs[0].ObjID != app.objID || objs[0].Services != 2 {
		t.Errorf("objects %+v %v", objs, err)
	}
	st, err := r.api.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if js, ok := st.JOSP.(map[string]any); !ok || js["refused"] != float64(1) || js["commands"] != float64(2) || js["historyRequests"].(float64) < 7 {
		t.Errorf("status josp %v", st.JOSP)
	}
	app.write("bye")
	installer.write("bye")
}

func TestJOSPEndToEndTLS(t *testing.T) {
	r := startGateway(t, t.TempDir(), jospConfig+"tls = true\n")
	s, scripts := jospSensor(t, r, 7)
	addr := discoverJOSP(t, "greenhouse")
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	shareAddr := net.JoinHostPort(host, strconv.Itoa(p+1))

	// The service's certificate as the reference's services make theirs:
	// CN = the fullSrvId, then further attributes.
	cert, err := certs.LoadOrCreate(t.TempDir(), certs.Spec{Name: "jsl", Key: certs.RSA2048, Subject: pkix.Name{
		CommonName: "installer/root/9", OrganizationalUnit: []string{"com.robypomper.comm"}, Organization: []string{"John"},
		Locality: []string{"Trento"}, Province: []string{"TN"}, Country: []string{"IT"}}})
	if err != nil {
		t.Fatal(err)
	}
	dialTLS := func() (*tls.Conn, error) {
		tc, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert},
			MaxVersion: tls.VersionTLS13})
		if err != nil {
			return nil, err
		}
		_ = tc.SetReadDeadline(time.Now().Add(2 * time.Second))
		b := make([]byte, 1)
		if _, err := tc.Read(b); err != nil { // a refused certificate shows on the first read
			tc.Close()
			return nil, err
		}
		_ = tc.SetReadDeadline(time.Time{})
		return tc, nil
	}
	if tc, err := dialTLS(); err == nil {
		tc.Close()
		t.Fatal("TLS accepted before the certificates were shared")
	}

	// The certificate sharing exchange on port+1.
	sc, err := net.Dial("tcp", shareAddr)
	if err != nil {
		t.Fatal(err)
	}
	_ = sc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := sc.Write(append(bytes.Clone(cert.Certificate[0]), "##"...)); err != nil {
		t.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 4096)
	var gwCert *x509.Certificate
	for gwCert == nil {
		n, err := sc.Read(buf)
		got = append(got, buf[:n]...)
		if len(got) > 4 && got[0] == 0x30 && got[1] == 0x82 {
			if l := 4 + (int(got[2])<<8 | int(got[3])); len(got) >= l+2 {
				if string(got[l:l+2]) != "##" {
					t.Fatalf("certificate not followed by ##: % x", got[l:l+2])
				}
				if gwCert, err = x509.ParseCertificate(got[:l]); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err != nil && gwCert == nil {
			t.Fatalf("certificate sharing: %v after %d bytes", err, len(got))
		}
	}
	io.WriteString(sc, "bye##")
	sc.Close()
	if gwCert.Subject.CommonName == "" || len(gwCert.Subject.Organization) == 0 {
		t.Errorf("gateway certificate subject %s", gwCert.Subject)
	}

	tc, err := dialTLS()
	if err != nil {
		t.Fatalf("TLS after sharing: %v", err)
	}
	if v := tc.ConnectionState().Version; v != tls.VersionTLS12 {
		t.Errorf("TLS version %#x, want 1.2", v)
	}
	if !bytes.Equal(tc.ConnectionState().PeerCertificates[0].Raw, gwCert.Raw) {
		t.Error("the object presents another certificate than it shared")
	}
	// The first byte was read already: the objId line's "\n".
	svc := connectJOSP(t, &prefixConn{Conn: tc, prefix: []byte("\n")}, "installer/root/9", false)
	svc.presentation("CoOwner")
	s.sendAcked(10, climate(-150))
	u := svc.expect("UPD_MSG")
	if u.field(1) != "Properties>temperature" || u.lines[3] != "new=-1.500000,old=0.000000" {
		t.Errorf("update %q", u.raw)
	}
	svc.expect("UPD_MSG")
	svc.expect("UPD_MSG")
	svc.command("Actions>reboot", "JOSPBoolean", "new=true,old=false")
	if sc := <-scripts; sc != "reboot" {
		t.Errorf("COMMAND %q", sc)
	}
	svc.expect("UPD_MSG")
	// Messages must carry the certificate's identity.
	svc.write(fmt.Sprintf("JOSP/2.0 OBJ_SETNAME_MSG %s\nfullSrvId:other/root/9\nobjId:%s\nobjName:x", jospNow(), svc.objID))
	svc.quiet(300 * time.Millisecond)
	svc.write("bye")
}

// prefixConn replays bytes already read from a connection.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func TestJOSPConfig(t *testing.T) {
	for _, tc := range []struct{ conf, msg string }{
		{"[josp]\nenabled = true\nlisten = \"127.0.0.1:80\"", "josp.listen"},
		{"[josp]\nenabled = true\nports = \"9-2\"", "josp.ports"},
		{"[josp]\nenabled = true\nports = \"4000\"\ntls = true", "two ports"},
		{"[josp]\nenabled = true\neveryone = \"Owner\"", "josp.everyone"},
		{"[josp]\nenabled = true\ncoowners = [\"a b\"]", "josp.coowners"},
		{"[josp]\nenabled = true\nhistory_max = -1", "josp.history_max"},
	} {
		_, err := ParseConfig(strings.NewReader(tc.conf))
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: %v, want an error naming %s", tc.conf, err, tc.msg)
		}
	}
	cfg, err := ParseConfig(strings.NewReader("[josp]\nenabled = true\nports = \"49200-49299\"\neveryone = \"none\"\ncoowners = [\"installer\", \"app/alice\"]"))
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi, _ := cfg.JOSP.portRange(); lo != 49200 || hi != 49299 {
		t.Errorf("ports %d-%d", lo, hi)
	}
}
