package deliver

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/clavisiam/clavis/internal/egress"
	"github.com/clavisiam/clavis/tenants/signing"
)

// These tests drive the sender against real HTTP servers; the
// deliverer's own tests (deliver_test.go) run it over real stores.

func newSecret(t *testing.T) (string, Key) {
	t.Helper()
	s := signing.NewWebhookSecret()
	k, err := ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return s, k
}

// TestSignatureVerifiesWithStandardWebhooks checks every signature of a
// two-secret message with the specification's own Go library, each
// secret on its own.
func TestSignatureVerifiesWithStandardWebhooks(t *testing.T) {
	got := make(chan *http.Request, 1)
	bodies := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer srv.Close()
	s1, k1 := newSecret(t)
	s2, k2 := newSecret(t)
	body := []byte(`{"specversion":"1.0","id":"e1","type":"dev.clavis.client.created"}`)
	r := newSender(Sending{Network: egress.AllowPrivate, UserAgent: "Clavis-Webhooks/test"}, false).
		send(t.Context(), outgoing{URL: srv.URL + "/hook", ID: "e1", At: time.Now(), Body: body, Keys: []Key{k1, k2}})
	if r.Error != "" || r.Status != 200 {
		t.Fatalf("send = %+v", r)
	}
	req, b := <-got, <-bodies
	if string(b) != string(body) {
		t.Errorf("body = %s", b)
	}
	for h, want := range map[string]string{"Content-Type": ContentType, "User-Agent": "Clavis-Webhooks/test", HeaderID: "e1"} {
		if v := req.Header.Get(h); v != want {
			t.Errorf("%s = %q, want %q", h, v, want)
		}
	}
	if n := len(strings.Fields(req.Header.Get(HeaderSignature))); n != 2 {
		t.Errorf("signatures: %d, want 2", n)
	}
	for _, s := range []string{s1, s2} {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(b, req.Header); err != nil {
			t.Errorf("verify with one of the secrets: %v", err)
		}
	}
	other, _ := newSecret(t)
	wh, _ := standardwebhooks.NewWebhook(other)
	if err := wh.Verify(b, req.Header); err == nil {
		t.Error("a signature verified with a secret the message was not signed with")
	}
}

// TestSendRefusesNonPublicAddresses: without AllowPrivate, nothing is
// dialled at loopback, private, link-local or metadata addresses, named
// or literal.
func TestSendRefusesNonPublicAddresses(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	_, k := newSecret(t)
	s := newSender(Sending{Timeout: 3 * time.Second}, false)
	for _, url := range []string{
		srv.URL,
		"http://localhost:" + port,
		"http://[::1]:" + port,
		"https://10.0.0.1/",
		"https://192.168.0.10/",
		"https://169.254.169.254/latest/meta-data/",
		"https://[fe80::1]/",
		"https://100.64.0.1/",
	} {
		r := s.send(t.Context(), outgoing{URL: url, ID: "e1", At: time.Now(), Body: []byte("{}"), Keys: []Key{k}})
		if r.Status != 0 || !strings.Contains(r.Error, "not a public address") {
			t.Errorf("send to %s = %+v, want refused as not public", url, r)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback receiver was called %d times", n)
	}
}

// TestSendFailures: redirects are not followed, a receiver that never
// answers times out, endless and huge answers are cut, and none of the
// body ends up in the result.
func TestSendFailures(t *testing.T) {
	_, k := newSecret(t)
	secret := base64.StdEncoding.EncodeToString([]byte("top secret body text"))
	var followed atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/followed", http.StatusFound)
	})
	mux.HandleFunc("/followed", func(http.ResponseWriter, *http.Request) { followed.Add(1) })
	done := make(chan struct{})
	mux.HandleFunc("/silent", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
		case <-done:
		}
	})
	mux.HandleFunc("/endless", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := []byte(strings.Repeat(secret, 100))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(strings.Repeat(secret, 1<<16)))
	})
	mux.HandleFunc("/drip", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		for r.Context().Err() == nil {
			if _, err := w.Write([]byte(secret)); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer srv.CloseClientConnections()
	defer close(done)
	s := newSender(Sending{Network: egress.AllowPrivate, Timeout: 2 * time.Second}, false)
	for _, tc := range []struct {
		path   string
		status int
		error  string
		within time.Duration
	}{
		{"/redirect", 302, "redirect not followed", time.Second},
		{"/silent", 0, "timeout", 5 * time.Second},
		{"/endless", 200, "", 3 * time.Second},
		{"/huge", 500, "answered 500", 3 * time.Second},
		{"/drip", 202, "", 3 * time.Second},
	} {
		t.Run(tc.path, func(t *testing.T) {
			start := time.Now()
			r := s.send(t.Context(), outgoing{URL: srv.URL + tc.path, ID: "e1", At: time.Now(), Body: []byte("{}"), Keys: []Key{k}})
			took := time.Since(start)
			if r.Status != tc.status || (tc.error == "") != (r.Error == "") || !strings.Contains(r.Error, tc.error) {
				t.Errorf("send = %+v, want status %d and error %q", r, tc.status, tc.error)
			}
			if strings.Contains(r.Error, secret[:10]) {
				t.Errorf("the error quotes the body: %q", r.Error)
			}
			if took > tc.within {
				t.Errorf("took %s, want at most %s", took, tc.within)
			}
		})
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("the redirect was followed %d times", n)
	}
}

func TestParseKey(t *testing.T) {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	good := signing.WebhookSecretPrefix + base64.StdEncoding.EncodeToString(k)
	if got, err := ParseKey(good); err != nil || string(got) != string(k) {
		t.Errorf("ParseKey(good) = %v, %v", got, err)
	}
	for _, bad := range []string{"", "whsec_", "whsec_!!!", base64.StdEncoding.EncodeToString(k), "whsk_" + base64.StdEncoding.EncodeToString(k)} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) succeeded", bad)
		}
	}
}

func TestNominalSchedule(t *testing.T) {
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second}
	for i, w := range want {
		if got := Nominal(i + 1); got != w {
			t.Errorf("Nominal(%d) = %s, want %s", i+1, got, w)
		}
	}
	if got := Nominal(100); got != maxRetry {
		t.Errorf("Nominal(100) = %s, want %s", got, maxRetry)
	}
	for n := 1; n < 30; n++ {
		if b := Backoff(n); b < Nominal(n)*8/10 || b > Nominal(n)*12/10 {
			t.Errorf("Backoff(%d) = %s, outside 0.8..1.2 of %s", n, b, Nominal(n))
		}
	}
}

// tcpService listens on loopback and answers every connection with
// answer (then reads until the client goes), as a service that is not
// an HTTP server does; with answer "" it closes each connection at once.
// With afterRequest it answers once the request's first bytes came.
func tcpService(t *testing.T, answer string, afterRequest bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if answer == "" {
					return
				}
				if afterRequest {
					_, _ = c.Read(make([]byte, 4096))
				}
				_, _ = c.Write([]byte(answer))
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// TestSendErrorsQuoteNothingOfTheAnswer: whatever went wrong, the error
// is one of a fixed set of categories and holds no byte the other side
// sent (a banner, a certificate's names).
func TestSendErrorsQuoteNothingOfTheAnswer(t *testing.T) {
	_, k := newSecret(t)
	const marker = "BANNER-SECRET-4c1d"
	banner := tcpService(t, "INFO {\"server_id\":\""+marker+"\"}\r\n", false)
	bannerLate := tcpService(t, "SSH-2.0-"+marker+"\r\n", true)
	header := tcpService(t, "HTTP/1.1 200 "+marker+"\r\nContent-Length: 0\r\n\r\n", true)
	headerBad := tcpService(t, "HTTP/1.1 200 OK\r\n"+marker+"\r\n\r\n", true)
	closing := tcpService(t, "", false)
	plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer plain.Close()
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	_, tlsPort, _ := net.SplitHostPort(tlsSrv.Listener.Addr().String())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()

	untrusting := newSender(Sending{Network: egress.AllowPrivate, Timeout: 3 * time.Second}, false)
	trusting := newSender(Sending{Network: egress.AllowPrivate, Timeout: 3 * time.Second, RootCAs: certPool(tlsSrv)}, false)
	for _, tc := range []struct {
		s    *sender
		url  string
		want string
	}{
		{untrusting, "http://" + banner + "/", "the answer was not HTTP"},
		{untrusting, "http://" + bannerLate + "/", "the answer was not HTTP"},
		{untrusting, "http://" + header + "/", ""}, // a 200 with a reason phrase of its own: a success, nothing stored
		{untrusting, "http://" + headerBad + "/", "the answer was not HTTP"},
		{untrusting, "https://" + banner + "/", "TLS handshake failed: the answer was not TLS"},
		{untrusting, "http://" + closing + "/", "the connection without an answer"},
		{untrusting, "http://" + refused + "/", "connection refused"},
		{untrusting, "https://" + plain.Listener.Addr().String() + "/", "TLS handshake failed: the endpoint answered plain HTTP"},
		{untrusting, tlsSrv.URL, "TLS handshake failed: certificate signed by an unknown authority"},
		{trusting, "https://localhost:" + tlsPort + "/", "TLS handshake failed: certificate not valid for the endpoint's host name"},
		{trusting, tlsSrv.URL, ""},
	} {
		r := tc.s.send(t.Context(), outgoing{URL: tc.url, ID: "e1", At: time.Now(), Body: []byte("{}"), Keys: []Key{k}})
		if (tc.want == "") != (r.Error == "") || !strings.Contains(r.Error, tc.want) {
			t.Errorf("send to %s = %+v, want error %q (the client's error: %T %v)", tc.url, r, tc.want, r.cause, r.cause)
		}
		if strings.Contains(r.Error, marker) || strings.Contains(r.Error, "example.com") || strings.Contains(r.Error, "server_id") {
			t.Errorf("send to %s: the error quotes what the other side sent: %q", tc.url, r.Error)
		}
	}
}

func certPool(srv *httptest.Server) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(srv.Certificate())
	return p
}
