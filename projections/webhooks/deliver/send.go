package deliver

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/clavisiam/clavis/internal/egress"
)

// Sending configures how deliveries are sent.
type Sending struct {
	// Network says which addresses may be called: egress.PublicOnly (the
	// default) refuses an endpoint whose name resolves to a loopback,
	// private, link-local or other non-public address, checked on the
	// address actually dialled.
	Network egress.Policy
	// RootCAs verifies the endpoints' servers; nil: the system's roots.
	RootCAs *x509.CertPool
	// Timeout bounds one attempt, from dialling to the response's
	// headers (0: [DefaultTimeout]).
	Timeout time.Duration
	// UserAgent is sent with every delivery ("": "Clavis-Webhooks").
	UserAgent string
}

// Limits of one attempt.
const (
	// DefaultTimeout bounds an attempt, connection to response headers.
	DefaultTimeout = 15 * time.Second
	// connectTimeout, tlsTimeout bound the connection and its handshake.
	connectTimeout = 5 * time.Second
	tlsTimeout     = 5 * time.Second
	// MaxResponseBody is the most of a response body read (and dropped);
	// past it the connection is closed.
	MaxResponseBody = 64 << 10
	// bodyTimeout bounds reading (and dropping) the response body once
	// the status is known: the status decides, the body only lets the
	// connection be reused.
	bodyTimeout = 1 * time.Second
	// maxResponseHeaders is the most bytes of response headers read.
	maxResponseHeaders = 16 << 10
)

// sender posts signed messages to endpoints.
type sender struct {
	http      *http.Client
	timeout   time.Duration
	userAgent string
}

func newSender(c Sending) *sender {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.UserAgent == "" {
		c.UserAgent = "Clavis-Webhooks"
	}
	dialer := egress.Dialer(&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}, c.Network)
	transport := &http.Transport{
		Proxy:                  nil, // never through a proxy: the address dialled is the one checked
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    tlsTimeout,
		ResponseHeaderTimeout:  c.Timeout,
		MaxResponseHeaderBytes: maxResponseHeaders,
		ForceAttemptHTTP2:      true,
		// Keep-alives for throughput: an endpoint's deliveries go one at
		// a time, so a host needs few connections.
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 32,
		MaxConnsPerHost:     64,
		IdleConnTimeout:     90 * time.Second,
	}
	return &sender{
		http: &http.Client{Transport: transport,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		timeout:   c.Timeout,
		userAgent: c.UserAgent,
	}
}

// outgoing is what one attempt sends.
type outgoing struct {
	URL  string
	ID   string
	At   time.Time
	Body []byte
	Keys []Key
}

// result is how an attempt went: the status (0 without an answer), the
// latency to the response's headers, and why it failed ("" when the
// receiver answered 2xx).
type result struct {
	Status  int
	Latency time.Duration
	Error   string
}

// send posts m and reads, then drops, at most MaxResponseBody bytes of
// the answer. Nothing of the body is kept.
func (s *sender) send(ctx context.Context, m outgoing) result {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, bytes.NewReader(m.Body))
	if err != nil {
		return result{Error: "invalid endpoint url"}
	}
	if req.URL.Scheme != "https" && req.URL.Scheme != "http" {
		return result{Error: "endpoint url is not https"}
	}
	ts := m.At.Unix()
	h := req.Header
	h["Content-Type"] = []string{ContentType}
	h["User-Agent"] = []string{s.userAgent}
	h[HeaderID] = []string{m.ID}
	h[HeaderTimestamp] = []string{strconv.FormatInt(ts, 10)}
	h[HeaderSignature] = []string{Signature(m.Keys, m.ID, ts, m.Body)}
	start := time.Now()
	res, err := s.http.Do(req)
	latency := time.Since(start)
	if err != nil {
		return result{Latency: latency, Error: describe(ctx, err)}
	}
	// The status decides; the body is read only so that the connection
	// can serve the next delivery, within a bound of its own.
	stop := time.AfterFunc(bodyTimeout, cancel)
	// An endless or oversized answer is cut here: closing a body not
	// read to its end drops its connection.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, MaxResponseBody))
	stop.Stop()
	res.Body.Close()
	r := result{Status: res.StatusCode, Latency: latency}
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
	case res.StatusCode >= 300 && res.StatusCode < 400:
		r.Error = fmt.Sprintf("redirect not followed: the endpoint answered %d", res.StatusCode)
	default:
		r.Error = fmt.Sprintf("the endpoint answered %d", res.StatusCode)
	}
	return r
}

// describe says why a request got no answer, in words fit for the
// delivery log: no URL, no address details beyond the refused one.
func describe(ctx context.Context, err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var dns *net.DNSError
	switch {
	case errors.Is(err, egress.ErrNotPublic):
		var op *net.OpError
		host := ""
		if errors.As(err, &op) && op.Addr != nil {
			host, _, _ = net.SplitHostPort(op.Addr.String())
		}
		if host == "" {
			return "refused: the endpoint's address is not public (loopback, private, link-local or reserved)"
		}
		return "refused: the endpoint resolves to " + host + ", which is not a public address (loopback, private, link-local or reserved)"
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "timeout: no answer within the time allowed"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.As(err, &dns):
		return "the endpoint's host name could not be resolved"
	}
	var tlsErr *tls.CertificateVerificationError
	if errors.As(err, &tlsErr) {
		return "tls: the endpoint's certificate could not be verified"
	}
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return "no answer: " + strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, msg)
}
