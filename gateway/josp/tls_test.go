package josp

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgegate/edgegate/gateway/certs"
	"github.com/edgegate/edgegate/gateway/josp/wire"
)

// serviceCert returns a service's certificate with the subject the
// reference's services use: CN, then OU, O, L, ST, C.
func serviceCert(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	c, err := certs.LoadOrCreate(t.TempDir(), certs.Spec{Name: "svc", Key: certs.RSA2048, Subject: pkix.Name{CommonName: cn,
		OrganizationalUnit: []string{"com.robypomper.comm"}, Organization: []string{"John"}, Locality: []string{"Trento"},
		Province: []string{"TN"}, Country: []string{"IT"}}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// shareCert runs the certificate sharing exchange as a service: send the
// DER and the delimiter, read the object's, say bye.
func shareCert(t *testing.T, addr string, cert tls.Certificate) *x509.Certificate {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write(append(bytes.Clone(cert.Certificate[0]), "##"...)); err != nil {
		t.Fatal(err)
	}
	fr := wire.NewFrameReader(nc, 0)
	head, err := fr.Peek(4)
	if err != nil {
		t.Fatal(err)
	}
	n, ok, err := wire.DERLength(head)
	if !ok || err != nil {
		t.Fatalf("object's certificate header % x: %v", head, err)
	}
	der, err := fr.ReadFull(n)
	if err != nil {
		t.Fatal(err)
	}
	if tail, err := fr.Peek(2); err != nil || string(tail) != "##" {
		t.Fatalf("after the certificate: %q %v", tail, err)
	}
	if _, err := nc.Write([]byte("bye##")); err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	// The object closes its side after the bye.
	if _, err := io.ReadAll(nc); err != nil {
		t.Fatalf("after bye: %v", err)
	}
	return c
}

func TestTLSWithCertificateSharing(t *testing.T) {
	dir := t.TempDir()
	gw, err := LoadCertificate(dir, "edgegate-test-gateway")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(gw.Certificate[0], []byte("##")) {
		t.Fatal("the new certificate holds the delimiter")
	}
	if again, _ := LoadCertificate(dir, "other"); !bytes.Equal(again.Certificate[0], gw.Certificate[0]) {
		t.Fatal("the key pair was not kept")
	}
	if got := gw.Leaf.Subject.String(); got != "CN=edgegate-test-gateway,OU=JOSP,O=edgegate" {
		t.Errorf("subject %s", got)
	}
	r := newRig(t, func(o *Options) { o.TLS = &gw })
	o := r.object("native:lamp")
	if !o.TLS || o.CertSharingAddr == "" {
		t.Fatalf("object %+v", o)
	}
	_, port, _ := net.SplitHostPort(o.Addr)
	_, share, _ := net.SplitHostPort(o.CertSharingAddr)
	if p, _ := strconv.Atoi(port); strconv.Itoa(p+1) != share {
		t.Errorf("certificate sharing on %s, object on %s", share, port)
	}
	admin := serviceCert(t, "admin/root/7")

	// Not shared yet: refused.
	if tc, err := tlsDial(t, o.Addr, admin); err == nil {
		if _, err := readFrame(tc); err == nil {
			t.Fatal("an unshared certificate was accepted")
		}
		tc.Close()
	}
	// The reference's services ping port+1 first: connect and close.
	if nc, err := net.Dial("tcp", o.CertSharingAddr); err == nil {
		nc.Close()
	}
	got := shareCert(t, o.CertSharingAddr, admin)
	if !bytes.Equal(got.Raw, gw.Certificate[0]) {
		t.Fatal("the object shared another certificate")
	}
	r.eventually("the shared certificate", func() bool { return r.ep.Stats().CertShares >= 1 })

	// The certificate names the service: no identity line.
	tc, err := tlsDial(t, o.Addr, admin)
	if err != nil {
		t.Fatal(err)
	}
	if st := tc.ConnectionState(); st.Version != tls.VersionTLS12 {
		t.Errorf("TLS version %x", st.Version)
	}
	c := handshake(t, tc, "admin/root/7", false)
	if c.objID != o.ObjID {
		t.Errorf("objId %s", c.objID)
	}
	c.presentation(wire.PermCoOwner)
	c.command("Actions>reboot", wire.CmdBoolean, "new=true,old=false")
	if call := <-r.owner.ch; call != "native:lamp reboot" {
		t.Fatal(call)
	}
	c.update()
	// Its messages must carry that identity.
	c.send(wire.SetName{FullSrvID: "other/root/7", ObjID: o.ObjID, Name: "x"})
	c.quiet(200 * time.Millisecond)

	// A certificate whose CN is no fullSrvId: the identity line is sent.
	other := serviceCert(t, "Some JSL")
	shareCert(t, o.CertSharingAddr, other)
	tc2, err := tlsDial(t, o.Addr, other)
	if err != nil {
		t.Fatal(err)
	}
	v := handshake(t, tc2, "viewer/anyone/1", true)
	v.presentation(wire.PermState)
	svcs := r.ep.Services()
	if len(svcs) != 2 || !svcs[0].TLS || !svcs[1].TLS {
		t.Errorf("services %+v", svcs)
	}
	if s := r.ep.Stats(); s.Trusted != 2 || s.TLSFailures < 1 || s.IdentityDenied != 1 {
		t.Errorf("stats %+v", s)
	}
	// Plain TCP is refused by a TLS object.
	nc, err := net.Dial("tcp", o.Addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.Write([]byte("viewer/anyone/1\n##"))
	if f, err := readFrame(nc); err == nil && strings.Contains(f, o.ObjID) {
		t.Error("a plain connection got the objId line")
	}
	nc.Close()
}
