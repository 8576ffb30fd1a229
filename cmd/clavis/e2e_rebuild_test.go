package main

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"testing"

	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	"github.com/clavisiam/clavis/internal/node"
)

// TestProjectionRebuildParity runs a mixed workload on one node, stops it,
// rebuilds the read model from the event store with `clavis projections
// rebuild`, starts the node again and checks that the admin API answers
// every read with the same JSON as before, byte for byte.
func TestProjectionRebuildParity(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			env := []string{"CLAVIS_DATA_DIR=" + t.TempDir()}
			if backend == node.Postgres {
				env = append(env, "CLAVIS_DATABASE_URL="+pgtest.Schema(t, dbURL))
			}
			n := startServe(t, "rebuild-"+backend, env...)

			// A mixed workload over two tenants: every client command, and
			// a suspended tenant.
			one, two := uniqueSlug("rba"), uniqueSlug("rbb")
			runLifecycle(t, n, one)
			runLifecycle(t, n, two)
			n.do(http.MethodPost, "/admin/tenants/"+two+"/suspend", map[string]any{"reason": "rebuild parity"}, http.StatusOK)
			before := readModelJSON(t, n, one, two)

			n.stop()
			t.Run("projections rebuild", func(t *testing.T) {
				bin := clavisBinary(t)
				cmd := exec.Command(bin, "projections", "rebuild")
				cmd.Env = append(os.Environ(), n.env...)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("clavis projections rebuild: %v\n%s%s", err, out, stderr.Bytes())
				}
				t.Logf("clavis projections rebuild: %s", bytes.TrimSpace(out))
			})
			n.start()

			after := readModelJSON(t, n, one, two)
			for path, b := range before {
				if !bytes.Equal(b, after[path]) {
					t.Errorf("GET %s changed after the rebuild:\nbefore: %s\nafter:  %s", path, b, after[path])
				}
			}
		})
	}
}

// readModelJSON returns the raw answers of every read of the read model
// for the tenants slugs: the tenant list, each tenant, each client list and
// each client, by path.
func readModelJSON(t *testing.T, n *serveProc, slugs ...string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	read := func(path string) []byte {
		t.Helper()
		code, _, body, err := n.try(http.MethodGet, path, nil)
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET %s = %d %s %v", path, code, body, err)
		}
		out[path] = body
		return body
	}
	read("/admin/tenants?limit=500")
	for _, slug := range slugs {
		read("/admin/tenants/" + slug)
		read("/t/" + slug + "/admin/clients?limit=500")
		read("/t/" + slug + "/admin/clients?active=true&limit=500")
		for _, c := range n.listClients(slug) {
			read("/t/" + slug + "/admin/clients/" + c["client_id"].(string))
		}
	}
	return out
}
