package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoReflectiveTemplates keeps text/template (and html/template) out of
// the daemon: their method lookup by name makes the linker keep every
// method of every type, megabytes on ARM.
func TestNoReflectiveTemplates(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "text/template" || pkg == "html/template" {
			t.Errorf("gatewayd depends on %s", pkg)
		}
	}
}
