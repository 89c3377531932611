package oco

import (
	"archive/zip"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeZip(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "p.zip")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var testLimits = unpackLimits{MaxFiles: 100, MaxBytes: 1 << 20}

func TestUnpack(t *testing.T) {
	dir := t.TempDir()
	files, n, err := unpack(writeZip(t, zipOf(t,
		"a.txt", "alpha",
		`win\sub\b.txt`, "beta",
		"d/", "",
		"d/e/f.sh", "#!/bin/sh\n",
		"link@", "d/e/f.sh",
		"dirlink@", "d",
	)), dir, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	if files != 3 || n != int64(len("alpha")+len("beta")+len("#!/bin/sh\n")) {
		t.Errorf("files %d bytes %d", files, n)
	}
	for p, want := range map[string]string{"a.txt": "alpha", "win/sub/b.txt": "beta", "link": "#!/bin/sh\n", "dirlink/e/f.sh": "#!/bin/sh\n"} {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil || string(b) != want {
			t.Errorf("%s: %q %v", p, b, err)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, "d/e/f.sh")); fi.Mode().Perm()&0o100 == 0 {
		t.Error("the executable bit was lost")
	}
}

func TestUnpackRefuses(t *testing.T) {
	big := strings.Repeat("0", 2<<20)
	for _, c := range []struct {
		name  string
		files []string
		lim   unpackLimits
		want  string
	}{
		{"dot-dot", []string{"../x", "x"}, testLimits, "leaves"},
		{"dot-dot inside", []string{"a/../../x", "x"}, testLimits, "leaves"},
		{"backslash dot-dot", []string{`..\..\x`, "x"}, testLimits, "leaves"},
		{"absolute", []string{"/etc/x", "x"}, testLimits, "entry name"},
		{"drive letter", []string{`C:\x`, "x"}, testLimits, "entry name"},
		{"absolute link", []string{"l@", "/etc"}, testLimits, "points out"},
		{"relative link out", []string{"d/l@", "../../etc"}, testLimits, "points out"},
		// p leads to the root, so p/q's ".." leads out although the
		// name alone looks local.
		{"link through link", []string{"p@", ".", "p/q@", ".."}, testLimits, "out of the package"},
		{"write through a link out", []string{"p@", ".", "p/q@", "..", "p/q/evil", "x"}, testLimits, "escapes"},
		{"too many files", []string{"a", "1", "b", "2", "c", "3"}, unpackLimits{MaxFiles: 2, MaxBytes: 100}, "entries"},
		{"too large", []string{"zeros", big}, testLimits, "limit"},
		{"duplicate", []string{"a", "1", "a", "2"}, testLimits, "twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "pkg")
			os.Mkdir(dir, 0o700)
			_, _, err := unpack(writeZip(t, zipOf(t, c.files...)), dir, c.lim)
			if !errors.Is(err, ErrPackage) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
			entries, _ := os.ReadDir(parent)
			if len(entries) != 1 {
				t.Fatalf("written outside the package directory: %v", entries)
			}
		})
	}
}

func TestUnpackLyingSizes(t *testing.T) {
	// An entry whose header claims a small size but inflates to more: the
	// bytes actually written are bounded, not the declared ones.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "bomb", Method: zip.Deflate})
	w.Write(bytes.Repeat([]byte{0}, 4<<20))
	zw.Close()
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	zr.File[0].UncompressedSize64 = 10
	_, n, err := unpackFiles(zr.File, t.TempDir(), testLimits)
	if !errors.Is(err, ErrPackage) || n > testLimits.MaxBytes+1 {
		t.Fatalf("err %v after %d bytes", err, n)
	}
}

func TestCapture(t *testing.T) {
	c := newCapture(100)
	c.Write([]byte("short"))
	if c.String() != "short" {
		t.Fatal(c.String())
	}
	c = newCapture(100)
	for i := 0; i < 1000; i++ {
		c.Write([]byte("0123456789"))
	}
	c.Write([]byte("THE END\xff"))
	s := c.String()
	if !strings.HasPrefix(s, strings.Repeat("0123456789", 2)+"01234") || !strings.HasSuffix(s, "THE END\uFFFD") ||
		!strings.Contains(s, "bytes of output cut") || len(s) > 200 {
		t.Fatalf("%q", s)
	}
}
