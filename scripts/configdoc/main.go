// Command configdoc writes docs/configuration.md: every key of gatewayd's
// configuration file with its type, default and meaning, from the code
// itself. It walks gateway.Config by reflection (the toml tags give the
// keys, ParseConfig of an empty file and each section's WithDefaults method
// the defaults) and reads each field's doc comment from the source with
// go/ast, so a new section lands in the document by running it again:
//
//	go generate ./gateway     (or: go run ./scripts/configdoc -o docs/configuration.md)
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/edgegate/edgegate/gateway"
)

const module = "github.com/edgegate/edgegate"

func main() {
	out := flag.String("o", "", "write here instead of standard output")
	root := flag.String("root", "", "the module's root directory (default: found from the working directory)")
	flag.Parse()
	if *root == "" {
		r, err := findRoot()
		if err != nil {
			fmt.Fprintln(os.Stderr, "configdoc:", err)
			os.Exit(1)
		}
		*root = r
	}
	b, err := Generate(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "configdoc:", err)
		os.Exit(1)
	}
	if *out == "" {
		os.Stdout.Write(b)
		return
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "configdoc:", err)
		os.Exit(1)
	}
}

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module "+module+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of %s above the working directory", module)
		}
		dir = parent
	}
}

// docs holds the doc comments of a package's struct types and fields.
type docs struct {
	types  map[string]string
	fields map[string]map[string]string // type -> field -> doc
	order  map[string][]string          // type -> fields in source order
}

type generator struct {
	root string
	pkgs map[string]*docs
}

func (g *generator) docsOf(pkgPath string) (*docs, error) {
	if d, ok := g.pkgs[pkgPath]; ok {
		return d, nil
	}
	if !strings.HasPrefix(pkgPath, module) {
		return &docs{}, nil
	}
	dir := filepath.Join(g.root, strings.TrimPrefix(pkgPath, module))
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	d := &docs{types: map[string]string{}, fields: map[string]map[string]string{}, order: map[string][]string{}}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		for _, decl := range af.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				doc := ts.Doc
				if doc == nil && len(gd.Specs) == 1 {
					doc = gd.Doc
				}
				d.types[ts.Name.Name] = text(doc)
				fd := map[string]string{}
				for _, f := range st.Fields.List {
					t := text(f.Doc)
					if c := text(f.Comment); c != "" {
						t = strings.TrimSpace(t + " " + c)
					}
					for _, n := range f.Names {
						fd[n.Name] = t
						d.order[ts.Name.Name] = append(d.order[ts.Name.Name], n.Name)
					}
				}
				d.fields[ts.Name.Name] = fd
			}
		}
	}
	g.pkgs[pkgPath] = d
	return d, nil
}

func text(cg *ast.CommentGroup) string {
	if cg == nil {
		return ""
	}
	return strings.Join(strings.Fields(cg.Text()), " ")
}

// fieldDoc returns a field's doc comment; a field without one takes that
// of an earlier field of its struct naming it ("A, B, C: see ...").
func (d *docs) fieldDoc(typ, field string) string {
	if s := d.fields[typ][field]; s != "" {
		return s
	}
	order := d.order[typ]
	i := slices.Index(order, field)
	for j := i - 1; j >= 0; j-- { // the nearest earlier field first
		if s := d.fields[typ][order[j]]; strings.Contains(s, field) {
			return s
		}
	}
	return ""
}

type row struct{ key, typ, def, doc string }

type section struct {
	name  string
	array bool
	doc   string
	rows  []row
}

var durationType = reflect.TypeFor[time.Duration]()
var configDuration = reflect.TypeFor[gateway.Duration]()

// Generate returns the document.
func Generate(root string) ([]byte, error) {
	g := &generator{root: root, pkgs: map[string]*docs{}}
	cfg, err := gateway.ParseConfig(strings.NewReader(""))
	if err != nil {
		return nil, fmt.Errorf("defaults: %w", err)
	}
	var secs []*section
	if err := g.walk(&secs, reflect.ValueOf(cfg), nil, false, ""); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(header)
	for _, s := range secs {
		if len(s.rows) == 0 {
			continue
		}
		if s.array {
			fmt.Fprintf(&b, "## `[[%s]]`\n\n", s.name)
		} else {
			fmt.Fprintf(&b, "## `[%s]`\n\n", s.name)
		}
		if s.doc != "" {
			fmt.Fprintf(&b, "%s\n\n", s.doc)
		}
		b.WriteString("| key | type | default | meaning |\n|---|---|---|---|\n")
		for _, r := range s.rows {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", r.key, r.typ, r.def, cell(r.doc))
		}
		b.WriteString("\n")
	}
	return b.Bytes(), nil
}

const header = `# gatewayd configuration

<!-- Generated by scripts/configdoc from gateway.Config and its doc comments: do not edit.
     Regenerate with: go generate ./gateway -->

gatewayd reads one TOML file (` + "`-config FILE`" + `; the package installs ` + "`/etc/edgegate/gatewayd.toml`" + `, and
without ` + "`-config`" + ` gatewayd runs on its embedded default, ` + "`cmd/gatewayd/gatewayd.toml`" + `). An unknown key is an
error that names it; ` + "`gatewayd -check-config FILE`" + ` validates a file without starting anything. Values an
installer gave in the first-boot file are kept in ` + "`firstboot.toml`" + ` in the data directory and applied over the
file (see [install.md](install.md)).

Defaults below are what gatewayd uses when a key is absent from the file; the shipped configurations set a few
keys explicitly (for example ` + "`[admin] http = \"127.0.0.1:8080\"`" + `). Durations are written like ` + "`\"10s\"`" + `,
` + "`\"250ms\"`" + `, ` + "`\"720h\"`" + `.

`

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// walk adds v's keys (a struct at path) to secs.
func (g *generator) walk(secs *[]*section, v reflect.Value, path []string, array bool, typeDoc string) error {
	t := v.Type()
	if m := v.MethodByName("WithDefaults"); m.IsValid() && m.Type().NumIn() == 0 && m.Type().NumOut() == 1 && m.Type().Out(0) == t {
		v = m.Call(nil)[0]
	}
	d, err := g.docsOf(t.PkgPath())
	if err != nil {
		return err
	}
	sec := &section{name: strings.Join(path, "."), array: array, doc: typeDoc}
	*secs = append(*secs, sec)
	type sub struct {
		v     reflect.Value
		path  []string
		array bool
		doc   string
	}
	var subs []sub
	for i := range t.NumField() {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || key == "-" || key == "" {
			continue
		}
		fv := v.Field(i)
		ft := f.Type
		doc := d.fieldDoc(t.Name(), f.Name)
		p := append(append([]string{}, path...), key)
		switch {
		case ft.Kind() == reflect.Struct && ft != configDuration && ft != durationType:
			subs = append(subs, sub{fv, p, false, doc})
			continue
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			subs = append(subs, sub{reflect.New(ft.Elem()).Elem(), p, true, doc})
			continue
		}
		sec.rows = append(sec.rows, row{key: key, typ: typeName(ft), def: defaultOf(fv), doc: doc})
	}
	for _, s := range subs {
		if err := g.walk(secs, s.v, s.path, s.array, s.doc); err != nil {
			return err
		}
	}
	return nil
}

func typeName(t reflect.Type) string {
	switch {
	case t == configDuration || t == durationType:
		return "duration"
	case t.Kind() == reflect.Pointer:
		return typeName(t.Elem()) + " (optional)"
	case t.Kind() == reflect.Slice:
		return "list of " + typeName(t.Elem())
	case t.Kind() == reflect.Bool:
		return "bool"
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "integer"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "float"
	}
	return t.String()
}

func defaultOf(v reflect.Value) string {
	switch {
	case v.Type() == configDuration:
		return "`" + strings.TrimSpace(fmt.Sprint(v.Interface().(gateway.Duration).Duration)) + "`"
	case v.Type() == durationType:
		return "`" + v.Interface().(time.Duration).String() + "`"
	case v.Kind() == reflect.Pointer:
		if v.IsNil() {
			return "(unset)"
		}
		return defaultOf(v.Elem())
	case v.Kind() == reflect.String:
		return fmt.Sprintf("`%q`", v.String())
	case v.Kind() == reflect.Slice:
		if v.Len() == 0 {
			return "`[]`"
		}
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = strings.Trim(defaultOf(v.Index(i)), "`")
		}
		return "`[" + strings.Join(parts, ", ") + "]`"
	}
	return fmt.Sprintf("`%v`", v.Interface())
}
