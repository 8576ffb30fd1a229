package tenants_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/domain/client/secret"
	"github.com/clavisiam/clavis/tenants"
)

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	s := tenants.Secret{ID: secret.NewID(), Value: secret.NewValue()}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "secret", s)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "secret", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), fmt.Sprint(&s), logs.String()} {
		if strings.Contains(out, s.Value) || strings.Contains(out, "cls_") {
			t.Errorf("the secret's value leaked: %s", out)
		}
		if !strings.Contains(out, s.ID) {
			t.Errorf("the secret's id is missing: %s", out)
		}
	}
}
