package oauth_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// forbiddenPrefix is what the protocol code never imports: NATS, whose
// buckets are package bucket's business. The provider reaches them only
// through the interfaces it declares (Grants, Assertions, Revocations).
const forbiddenPrefix = "github.com/nats-io/"

// TestNoNATS keeps storage out of the protocol: package oauth, and
// everything it imports, depends on no NATS package (JetStream first).
func TestNoNATS(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list dependencies: %v", err)
	}
	// The test runs in the package's directory.
	cmd := exec.CommandContext(t.Context(), goBin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps .: %v\n%s", err, stderr.String())
	}
	var self bool
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		path := strings.TrimSpace(sc.Text())
		self = self || path == "github.com/clavisiam/clavis/http/oauth"
		if strings.HasPrefix(path, forbiddenPrefix) {
			t.Errorf("package oauth depends on %s; its stores belong in package bucket", path)
		}
	}
	if !self {
		t.Fatalf("go list did not list package oauth; the check is not looking at it:\n%s", out)
	}
}
