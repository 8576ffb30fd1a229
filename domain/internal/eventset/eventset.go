// Package eventset finds, in source, the event types an aggregate package
// declares and the switches over them, so that tests can check that every
// event type is handled by the domain and that no switch over event types
// lives outside it. It is for tests.
package eventset

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Declared returns, sorted, the names of the types declared in the Go
// files of dir (tests left out) that have an EventType method: the
// package's events.
func Declared(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	fset := token.NewFileSet()
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Name.Name != "EventType" || fn.Recv == nil || len(fn.Recv.List) != 1 {
				continue
			}
			if id, ok := fn.Recv.List[0].Type.(*ast.Ident); ok {
				names = append(names, id.Name)
			}
		}
	}
	slices.Sort(names)
	return names, nil
}

// Switch is a switch statement that names two or more event types (or
// their wire-name constants) of one aggregate package.
type Switch struct {
	Pos   string   // file:line, the file relative to root
	Names []string // the event types or constants it names
}

// Switches walks the Go files under root (tests, and the directories
// skip reports true for, left out) and returns every switch whose cases
// name two or more of names, each a selector on the package imported
// from importPath: an event type (also as a pointer) or an EventType
// constant.
func Switches(root, importPath string, names []string, skip func(dir string) bool) ([]Switch, error) {
	fset := token.NewFileSet()
	var out []Switch
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || skip(path)) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("parse %s: %w", path, err)
		}
		local := importName(f, importPath)
		if local == "" {
			return nil
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var body *ast.BlockStmt
			switch s := n.(type) {
			case *ast.TypeSwitchStmt:
				body = s.Body
			case *ast.SwitchStmt:
				body = s.Body
			default:
				return true
			}
			var named []string
			for _, st := range body.List {
				for _, e := range st.(*ast.CaseClause).List {
					if name, ok := selects(e, local); ok && isEventName(name, names) {
						named = append(named, name)
					}
				}
			}
			if len(named) >= 2 {
				pos := fset.Position(n.Pos())
				if rel, err := filepath.Rel(root, pos.Filename); err == nil {
					pos.Filename = rel
				}
				out = append(out, Switch{Pos: pos.String(), Names: named})
			}
			return true
		})
		return nil
	})
	return out, err
}

// importName is the name f uses for importPath, or "" when f does not
// import it.
func importName(f *ast.File, importPath string) string {
	for _, im := range f.Imports {
		p, err := strconv.Unquote(im.Path.Value)
		if err != nil || p != importPath {
			continue
		}
		if im.Name != nil {
			return im.Name.Name
		}
		return p[strings.LastIndex(p, "/")+1:]
	}
	return ""
}

// selects returns Sel of an expression pkg.Sel or *pkg.Sel.
func selects(e ast.Expr, pkg string) (string, bool) {
	if s, ok := e.(*ast.StarExpr); ok {
		e = s.X
	}
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return "", false
	}
	if id, ok := sel.X.(*ast.Ident); !ok || id.Name != pkg {
		return "", false
	}
	return sel.Sel.Name, true
}

// isEventName reports whether name is one of the event types or an
// EventType constant ("EventType…").
func isEventName(name string, events []string) bool {
	return slices.Contains(events, name) || strings.HasPrefix(name, "EventType")
}
