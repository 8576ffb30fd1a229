package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// readmeSection returns the lines of README.md's "## title" section.
func readmeSection(t *testing.T, title string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatalf("read README.md: %v", err)
	}
	var out []string
	in := false
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "## ") {
			in = line == "## "+title
			continue
		}
		if in {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		t.Fatalf("README.md has no section %q", title)
	}
	return out
}

var backticked = regexp.MustCompile("`([^`]+)`")

// The README's configuration table names every setting of `clavis serve`
// once, and nothing else.
func TestREADMEDocumentsEverySettingOnce(t *testing.T) {
	rows := map[string]int{}
	for _, line := range readmeSection(t, "Configuration") {
		if !strings.HasPrefix(line, "| `--") {
			continue
		}
		first := strings.Split(line, "|")[1]
		for _, m := range backticked.FindAllStringSubmatch(first, -1) {
			rows[strings.TrimPrefix(m[1], "--")]++
		}
	}
	for _, s := range settings {
		if n := rows[s.name]; n != 1 {
			t.Errorf("README's configuration table names --%s %d times, want once", s.name, n)
		}
		delete(rows, s.name)
	}
	for name := range rows {
		t.Errorf("README's configuration table names --%s, which clavis serve does not have", name)
	}
}

// The README's layout table lists every folder that holds a Go package,
// and every folder it lists exists.
func TestREADMELayoutMatchesTheTree(t *testing.T) {
	root := filepath.Join("..", "..")
	listed := map[string]bool{}
	for _, line := range readmeSection(t, "Layout") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.Split(line, "|")[1]
		for _, m := range backticked.FindAllStringSubmatch(first, -1) {
			listed[m[1]] = true
		}
	}
	var packages []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "data") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		dir, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		if dir = filepath.ToSlash(dir); !slices.Contains(packages, dir) {
			packages = append(packages, dir)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk the tree: %v", err)
	}
	for _, p := range packages {
		if !listed[p] {
			t.Errorf("README's layout table does not list %s", p)
		}
	}
	for p := range listed {
		if fi, err := os.Stat(filepath.Join(root, p)); err != nil || !fi.IsDir() {
			t.Errorf("README's layout table lists %s, which is not a folder of the tree", p)
		}
	}
}
