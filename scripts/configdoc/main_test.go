package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfigurationDocIsCurrent fails when docs/configuration.md does not
// match the code: a key was added, renamed or documented differently.
func TestConfigurationDocIsCurrent(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "docs", "configuration.md"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("docs/configuration.md is out of date (%v): regenerate it with `go generate ./gateway` "+
			"(go run ./scripts/configdoc -o docs/configuration.md) and commit it", err)
	}
}

func TestEveryKeyIsDocumented(t *testing.T) {
	root, _ := filepath.Abs("../..")
	b, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, want := range []string{"## `[admin]`", "| `http` | string | `\"\"` |", "## `[[osp.serial]]`", "## `[board]`",
		"| `pairing_window` | duration | `2m0s` |", "| `max_age` | duration | `720h0m0s` |", "## `[[device]]`",
		"| `listen` | string | `\"127.0.0.1:4700\"` |"} {
		if !strings.Contains(doc, want) {
			t.Errorf("missing %q", want)
		}
	}
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "| `") && strings.HasSuffix(line, "|  |") {
			t.Errorf("undocumented key: %s", line)
		}
	}
}
