package webhook_test

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/webhook"
)

// FuzzNormalize checks a webhook endpoint's settings as an
// administrator gives them (URL, types one per line, description): a
// refusal is a validation error; settings accepted are normalised for
// good (normalising them again changes nothing), their URL is an https
// URL with a host and no user information or fragment (or plain http on
// loopback), and the origin the public events show of it carries no
// path, query or credentials.
func FuzzNormalize(f *testing.F) {
	for _, s := range [][3]string{
		{"https://hooks.example.com/in", "", "Orders"},
		{" http://127.0.0.1:9/in ", "dev.clavis.client.registered\ntenant.*", ""},
		{"http://[::1]:8080/x?token=abc", "*", ""},
		{"https://hooks.example.com:65535/services/T0/B1/secret?x=1", "client.*", "a"},
		{"http://hooks.example.com/in", "", ""},
		{"https://user:pw@hooks.example.com/in", "", ""},
		{"https://hooks.example.com/in#x", "", ""},
		{"https:///in", "", ""},
		{"https://hooks.example.com:0/in", "", ""},
		{"https://hooks.example.com:https/in", "", ""},
		{"https://hooks.example.com/in", "client", "a\u202eb"},
		{"https://hooks.example.com:/in", "", "a\nb"},
		{"HTTPS://Hooks.Example.com/in", "", ""},
		{"https://[fe80::1%25en0]:443/in", "", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, rawURL, types, description string) {
		in := webhook.Settings{URL: rawURL, Description: description}
		if types != "" {
			in.Types = strings.Split(types, "\n")
		}
		s, err := webhook.Normalize(in)
		if err != nil {
			var ve *domain.ValidationError
			if !errors.Is(err, domain.ErrValidation) || !errors.As(err, &ve) {
				t.Fatalf("Normalize(%+v) = %v: want a validation error", in, err)
			}
			return
		}
		if again, err := webhook.Normalize(s); err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("Normalize(%+v) = %+v, normalised again %+v, %v", in, s, again, err)
		}
		u, err := url.Parse(s.URL)
		if err != nil || u.User != nil || u.Hostname() == "" || strings.Contains(s.URL, "#") ||
			u.Scheme != "https" && !(u.Scheme == "http" && (strings.EqualFold(u.Hostname(), "localhost") || u.Hostname() == "127.0.0.1" || u.Hostname() == "::1")) {
			t.Fatalf("Normalize(%+v) accepts URL %q", in, s.URL)
		}
		origin := webhook.Origin(s.URL)
		if rest, ok := strings.CutPrefix(origin, u.Scheme+"://"); !ok || strings.ContainsAny(rest, "/?#@") {
			t.Fatalf("Normalize(%+v): the origin of %q is %q", in, s.URL, origin)
		}
	})
}
