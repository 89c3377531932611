package board

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the package's promises about its import graph: periph's
// host drivers only in boardhost (so these tests never load them), and no
// logging or printing anywhere but tests.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			switch {
			case strings.HasPrefix(path, "periph.io/x/host"):
				t.Errorf("%s imports %s: host drivers belong in board/boardhost", name, path)
			case path == "log" || path == "log/slog":
				t.Errorf("%s imports %s: this package returns errors, it does not log", name, path)
			case strings.HasSuffix(path, "test") && path != "testing":
				t.Errorf("%s imports test package %s", name, path)
			}
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, banned := range []string{"fmt.Print", "os.Exit(", "panic("} {
			if strings.Contains(string(src), banned) {
				t.Errorf("%s uses %s", name, banned)
			}
		}
	}
}
