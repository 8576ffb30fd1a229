package domain_test

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// allowedPrefix is the only non-standard import path the domain may use:
// its own packages.
const allowedPrefix = "github.com/clavisiam/clavis/domain"

// TestDependencies keeps the domain pure: every package under domain may
// depend only on the standard library and on domain packages, never on a
// database driver, NATS, fiber or a logging library (STYLE.md §1).
func TestDependencies(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list dependencies: %v", err)
	}
	root := moduleRoot(t)
	cmd := exec.CommandContext(t.Context(), goBin, "list", "-deps",
		"-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./...")
	cmd.Dir = filepath.Join(root, "domain")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./... in %s: %v\n%s", cmd.Dir, err, stderr.String())
	}
	var n int
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		path := strings.TrimSpace(sc.Text())
		if path == "" {
			continue
		}
		n++
		if path != allowedPrefix && !strings.HasPrefix(path, allowedPrefix+"/") {
			t.Errorf("domain depends on %s; only the standard library and %s/... are allowed", path, allowedPrefix)
		}
	}
	if n == 0 {
		t.Fatal("go list printed no domain packages; the check is not looking at anything")
	}
}

// moduleRoot walks up from the working directory to the directory that
// holds go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's working directory")
		}
		dir = parent
	}
}
