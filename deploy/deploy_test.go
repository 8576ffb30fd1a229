// Package deploy holds the container image, the compose file and the
// Kubernetes manifests; its test checks them offline.
package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// TestKubernetesManifests decodes every manifest strictly into the
// Kubernetes API types (an unknown or misplaced field fails) and checks
// that a pod that must run as non-root can: the kubelet refuses
// runAsNonRoot when neither the pod nor the image names a numeric user.
func TestKubernetesManifests(t *testing.T) {
	user := imageUser(t, "Dockerfile")
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in kubernetes/ (%v)", err)
	}
	kinds := map[string]int{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range splitDocuments(raw) {
			kind, err := checkManifest(doc, user)
			if err != nil {
				t.Errorf("%s, document %d: %v", f, i+1, err)
			}
			kinds[kind]++
		}
	}
	for _, k := range []string{"Deployment", "Job", "Service"} {
		if kinds[k] == 0 {
			t.Errorf("the manifests have no %s (they have %v)", k, kinds)
		}
	}
}

// TestManifestChecksCatchMistakes feeds the checks the mistakes they are
// there for, so that they cannot pass vacuously.
func TestManifestChecksCatchMistakes(t *testing.T) {
	deployment := func(podSecurity, container string) []byte {
		return []byte(`apiVersion: apps/v1
kind: Deployment
metadata: { name: x }
spec:
  selector: { matchLabels: { app: x } }
  template:
    metadata: { labels: { app: x } }
    spec:
      securityContext: ` + podSecurity + `
      containers:
        - name: x
          image: registry.example.com/clavis:VERSION
` + container)
	}
	cases := []struct {
		name, user string
		doc        []byte
		want       string
	}{
		{"unknown field", "65532:65532", deployment("{ runAsNonRoot: true }", "          imagePullPolicy: Always\n          readinesProbe: {}\n"), "unknown field"},
		{"misplaced field", "65532:65532", deployment("{ runAsNonRoot: true, allowPrivilegeEscalation: false }", ""), "unknown field"},
		{"named image user", "nonroot:nonroot", deployment("{ runAsNonRoot: true }", ""), "numeric"},
		{"root image user", "0", deployment("{ runAsNonRoot: true }", ""), "root"},
		{"no image user", "", deployment("{ runAsNonRoot: true }", ""), "numeric"},
		{"unknown kind", "65532", []byte("apiVersion: v1\nkind: Pod2\nmetadata: { name: x }\n"), "kind"},
	}
	for _, c := range cases {
		if _, err := checkManifest(c.doc, c.user); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
	// A numeric user in the pod, or in the image, is enough.
	if _, err := checkManifest(deployment("{ runAsNonRoot: true, runAsUser: 1000 }", ""), "nonroot"); err != nil {
		t.Errorf("runAsUser in the pod: %v", err)
	}
	if _, err := checkManifest(deployment("{ runAsNonRoot: true }", ""), "65532:65532"); err != nil {
		t.Errorf("a numeric image user: %v", err)
	}
}

// TestImageAndBuildContext checks the Dockerfile, the compose file and the
// .dockerignore: the data directory belongs to the image's user, the
// compose health check asks /readyz through clavis health, and ./data
// (root token, master key, database) stays out of the build context.
func TestImageAndBuildContext(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	user := imageUser(t, "Dockerfile")
	final := finalStage(raw)
	dataDir := regexp.MustCompile(`CLAVIS_DATA_DIR=(\S+)`).FindStringSubmatch(final)
	if dataDir == nil {
		t.Fatal("the image sets no CLAVIS_DATA_DIR")
	}
	owned := regexp.MustCompile(`(?m)^COPY\s+.*--chown=(\S+)\s+\S+\s+(\S+)\s*$`).FindAllStringSubmatch(final, -1)
	if !slices.ContainsFunc(owned, func(m []string) bool { return m[1] == user && filepath.Clean(m[2]) == filepath.Clean(dataDir[1]) }) {
		t.Errorf("the image does not create its data directory %s owned by its user %s", dataDir[1], user)
	}

	compose, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Clavis struct {
			Healthcheck struct {
				Test []string `json:"test"`
			} `json:"healthcheck"`
		} `json:"x-clavis"`
	}
	if err := yaml.Unmarshal(compose, &c); err != nil {
		t.Fatal(err)
	}
	if test := c.Clavis.Healthcheck.Test; len(test) < 3 || test[0] != "CMD" || !strings.HasSuffix(test[1], "clavis") || test[2] != "health" {
		t.Errorf("the compose health check runs %q, want clavis health (GET /readyz)", test)
	}

	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatalf("no .dockerignore at the build context's root: %v", err)
	}
	var patterns []string
	for _, l := range strings.Split(string(ignore), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, strings.TrimSuffix(strings.TrimPrefix(l, "/"), "/"))
		}
	}
	if !slices.Contains(patterns, "data") {
		t.Errorf(".dockerignore does not exclude data: %v", patterns)
	}
	if slices.ContainsFunc(patterns, func(p string) bool { return strings.HasPrefix(p, "!") && strings.Contains(p, "data") }) {
		t.Errorf(".dockerignore lets part of data back in: %v", patterns)
	}
}

// checkManifest decodes one document strictly and checks its pods; it
// returns the document's kind.
func checkManifest(doc []byte, imageUser string) (string, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return "", err
	}
	var pod *corev1.PodSpec
	var obj any
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		d := &appsv1.Deployment{}
		obj, pod = d, &d.Spec.Template.Spec
	case "batch/v1 Job":
		j := &batchv1.Job{}
		obj, pod = j, &j.Spec.Template.Spec
	case "v1 Service":
		obj = &corev1.Service{}
	case "v1 ConfigMap":
		obj = &corev1.ConfigMap{}
	default:
		return tm.Kind, fmt.Errorf("apiVersion %q kind %q: the test knows no such kind; add its type", tm.APIVersion, tm.Kind)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return tm.Kind, err
	}
	if pod == nil {
		return tm.Kind, nil
	}
	for _, c := range pod.Containers {
		nonRoot, uid := false, (*int64)(nil)
		if s := pod.SecurityContext; s != nil {
			nonRoot = s.RunAsNonRoot != nil && *s.RunAsNonRoot
			uid = s.RunAsUser
		}
		if s := c.SecurityContext; s != nil {
			if s.RunAsNonRoot != nil {
				nonRoot = *s.RunAsNonRoot
			}
			if s.RunAsUser != nil {
				uid = s.RunAsUser
			}
		}
		if !nonRoot {
			continue
		}
		if uid != nil {
			if *uid == 0 {
				return tm.Kind, fmt.Errorf("container %s: runAsNonRoot with runAsUser 0", c.Name)
			}
			continue
		}
		// The kubelet checks the image's user: it must be a number, not 0.
		name, _, _ := strings.Cut(imageUser, ":")
		n, err := strconv.ParseInt(name, 10, 64)
		switch {
		case err != nil:
			return tm.Kind, fmt.Errorf("container %s: runAsNonRoot, but the image's USER %q is not numeric (the kubelet refuses to start it)", c.Name, imageUser)
		case n == 0:
			return tm.Kind, fmt.Errorf("container %s: runAsNonRoot, but the image runs as root", c.Name)
		}
	}
	return tm.Kind, nil
}

// splitDocuments splits a YAML stream into its non-empty documents.
func splitDocuments(raw []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(raw), -1) {
		j, err := yaml.YAMLToJSON([]byte(d))
		if err == nil && string(bytes.TrimSpace(j)) == "null" {
			continue // comments only
		}
		docs = append(docs, []byte(d))
	}
	return docs
}

// finalStage returns the Dockerfile's last stage.
func finalStage(dockerfile []byte) string {
	stages := regexp.MustCompile(`(?mi)^FROM\s`).Split(string(dockerfile), -1)
	return stages[len(stages)-1]
}

// imageUser returns the last USER of the Dockerfile's final stage ("" when
// it has none: root).
func imageUser(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	user := ""
	sc := bufio.NewScanner(strings.NewReader(finalStage(raw)))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && strings.EqualFold(f[0], "USER") {
			user = f[1]
		}
	}
	return user
}
