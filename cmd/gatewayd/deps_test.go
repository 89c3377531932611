package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps test-only code out of the daemon binary: no package named
// testing, and none of the module's *test helper packages (store/storetest).
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		ours := strings.HasPrefix(pkg, "github.com/edgegate/edgegate/")
		if pkg == "testing" || strings.HasPrefix(pkg, "testing/") || (ours && strings.HasSuffix(pkg, "test")) {
			t.Errorf("gatewayd depends on %s", pkg)
		}
	}
}
