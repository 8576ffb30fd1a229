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
	return docLines(t, "README.md", "## "+title)
}

// docLines returns the lines of the Markdown file at path (from the
// repository's root) under the heading line, up to the next heading of
// the same level.
func docLines(t *testing.T, path, heading string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(path)))
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	level := heading[:strings.IndexByte(heading, ' ')+1]
	var out []string
	in := false
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, level) {
			in = line == heading
			continue
		}
		if in {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s has no section %q", path, heading)
	}
	return out
}

var backticked = regexp.MustCompile("`([^`]+)`")

// docs/configuration.md's table names every setting of `clavis serve`
// once, and nothing else.
func TestConfigurationDocumentsEverySettingOnce(t *testing.T) {
	rows := map[string]int{}
	for _, line := range docLines(t, "docs/configuration.md", "# Configuration") {
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
			t.Errorf("docs/configuration.md's table names --%s %d times, want once", s.name, n)
		}
		delete(rows, s.name)
	}
	for name := range rows {
		t.Errorf("docs/configuration.md's table names --%s, which clavis serve does not have", name)
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
