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
	"syscall"
	"time"

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

// newSender returns the sender of the deliveries or, with onDemand, the
// one of pings and resends: a client of its own, so that they never wait
// for (nor hold) the deliveries' connections to a host, and without
// keep-alives, since they are few and far between (see [OnDemand]).
func newSender(c Sending, onDemand bool) *sender {
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
	if onDemand {
		transport.DisableKeepAlives = true
		transport.MaxIdleConns, transport.MaxIdleConnsPerHost, transport.MaxConnsPerHost = 0, 0, 0
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
	// cause is the HTTP client's own error, which may quote what the
	// receiver sent: never logged or stored, only shown by tests when
	// Error is not what they expect.
	cause error
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
		return result{Latency: latency, Error: describe(ctx, err), cause: err}
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
		r.Error = fmt.Sprintf("redirect not followed (status %d)", res.StatusCode)
	default:
		r.Error = fmt.Sprintf("the endpoint answered %d", res.StatusCode)
	}
	return r
}

// describe says why a request got no answer, in words fit for the
// delivery log: one of a fixed set of categories, never a word of what
// the receiver sent (a service that is not an HTTP server answers with
// its banner, which the HTTP client quotes in its errors), nor the URL.
// Only the refused address, which is ours to resolve, is named.
func describe(ctx context.Context, err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var (
		dns     *net.DNSError
		op      *net.OpError
		verify  *tls.CertificateVerificationError
		header  tls.RecordHeaderError
		alert   tls.AlertError
		timeout interface{ Timeout() bool }
	)
	dial := errors.As(err, &op) && op.Op == "dial"
	switch {
	case errors.Is(err, egress.ErrNotPublic):
		host := ""
		if op != nil && op.Addr != nil {
			host, _, _ = net.SplitHostPort(op.Addr.String())
		}
		if host == "" {
			return "address not public: the endpoint's address is not a public address (loopback, private, link-local or reserved)"
		}
		return "address not public: the endpoint resolves to " + host + ", which is not a public address (loopback, private, link-local or reserved)"
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return "DNS: the endpoint's host name does not exist"
		}
		if dns.IsTimeout {
			return "DNS: timeout resolving the endpoint's host name"
		}
		return "DNS: the endpoint's host name could not be resolved"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return "the endpoint's address is unreachable"
	case dial && (errors.Is(err, context.DeadlineExceeded) || errors.As(err, &timeout) && timeout.Timeout()):
		return "timeout connecting to the endpoint"
	case dial && errors.Is(err, context.Canceled):
		return "cancelled while connecting"
	case errors.As(err, &verify):
		return "TLS handshake failed: " + certificateReason(verify.Err)
	case errors.Is(err, http.ErrSchemeMismatch):
		return "TLS handshake failed: the endpoint answered plain HTTP"
	case errors.As(err, &header):
		return "TLS handshake failed: the answer was not TLS"
	case errors.As(err, &alert):
		return "TLS handshake failed: the endpoint refused the handshake"
	case strings.Contains(err.Error(), "TLS handshake timeout"):
		return "timeout during the TLS handshake"
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &timeout) && timeout.Timeout():
		return "timeout waiting for the answer"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), strings.Contains(err.Error(), "server closed idle connection"):
		return "the endpoint closed (or reset) the connection without an answer"
	case strings.Contains(err.Error(), "server response headers exceeded"):
		return "the answer's headers were too large"
	case dial:
		return "could not connect to the endpoint"
	case strings.HasPrefix(err.Error(), "tls:"):
		return "TLS handshake failed"
	}
	// What is left comes from reading the answer: an HTTP/1 response that
	// does not parse (malformed status line or headers, unsupported
	// version) or an HTTP/2 protocol error.
	return "the answer was not HTTP"
}

// certificateReason says why the endpoint's certificate was refused,
// without the names or dates the certificate holds.
func certificateReason(err error) string {
	var (
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &authority):
		return "certificate signed by an unknown authority"
	case errors.As(err, &hostname):
		return "certificate not valid for the endpoint's host name"
	case errors.As(err, &invalid):
		switch invalid.Reason {
		case x509.Expired:
			return "certificate expired or not yet valid"
		case x509.NotAuthorizedToSign, x509.CANotAuthorizedForThisName, x509.CANotAuthorizedForExtKeyUsage:
			return "certificate chain not authorized"
		case x509.IncompatibleUsage:
			return "certificate not valid for server authentication"
		default:
			return "certificate invalid"
		}
	}
	return "certificate could not be verified"
}
