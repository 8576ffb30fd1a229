// Package natsserver runs the in-process NATS server of the embedded
// default: JetStream on a local directory, a loopback port for local
// tools (or none), the node's user [InternalUser] with every right behind
// a bcrypt-hashed password, and everyone else in [PublicAccount], who may
// only receive the public events live. It logs the server's lines through
// slog, client-caused ones at debug level with a rate-limited warning.
package natsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"golang.org/x/crypto/bcrypt"

	"github.com/clavisiam/clavis/eventstore/subject"
)

// ErrInvalidOption is wrapped by every error an [Option] returns.
var ErrInvalidOption = errors.New("natsserver: invalid option")

type options struct {
	host     string
	port     int // server.RANDOM_PORT for a free one
	listen   bool
	log      *slog.Logger
	password string
	names    subject.Names
}

// Option configures [Start].
type Option func(*options) error

// WithListen makes the server listen on addr, the loopback address local
// tools connect to: "host:port", "host:0" for a free port, or "off" for no
// port at all (the default: in-process connections only).
func WithListen(addr string) Option {
	return func(o *options) error {
		if addr == "off" {
			o.listen = false
			return nil
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("%w: nats listen address %q: %w", ErrInvalidOption, addr, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return fmt.Errorf("%w: nats listen port %q is not a port", ErrInvalidOption, port)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		o.host, o.port, o.listen = host, p, true
		return nil
	}
}

// WithLogger makes the server log its notices and errors to l. Without it,
// or with a nil l, the server logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		o.log = l
		return nil
	}
}

// WithPassword requires password of the user [InternalUser], who may do
// everything; everyone else connects without credentials as a downstream
// subscriber, in [PublicAccount], who may only subscribe to the public
// events as they are published (core NATS: no JetStream, no publishing)
// and never reach anything of the node's account. Without it the server
// asks no one for credentials (tests).
func WithPassword(password string) Option {
	return func(o *options) error {
		if password == "" {
			return fmt.Errorf("%w: empty nats password", ErrInvalidOption)
		}
		o.password = password
		return nil
	}
}

// WithNames sets the streams and subjects the subscriber rule of
// [WithPassword] refers to (default: [subject.DefaultPrefix]'s).
func WithNames(n subject.Names) Option {
	return func(o *options) error {
		if _, err := subject.NewNames(n.Prefix); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidOption, err)
		}
		o.names = n
		return nil
	}
}

// InternalUser is the embedded server's user with every right, the one
// the node's own connection uses.
const InternalUser = "clavis"

// subscriberKey names whoever connects without credentials: an nkey
// user (the no_auth_user needs no signature), rather than a user without a
// password, which nats-server would report as a plaintext password on
// every start. Nobody holds its seed, and nobody needs it.
const subscriberKey = "UDM7S3JSHYK6GKB5LQZ3E23YNKV2HVPBFGP5KSO5NSPJP2NJ7J5HT2CB"

// subscriberPermissions let a downstream subscriber receive the public
// events live and do nothing else: it publishes nothing, so it has no
// JetStream API (whose requests nats-server does not bound for an
// account of a configuration: filter counts, waiting pulls, redelivery
// rates) and no request/reply, which plain subscriptions do not need.
// Durable, replayable consumption is for credentialed users.
func subscriberPermissions(n subject.Names) *server.Permissions {
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Deny: []string{">"}},
		Subscribe: &server.SubjectPermission{Allow: []string{n.PublicFilter()}},
	}
}

// Start starts an in-process NATS server with JetStream, its files in
// storeDir, and waits until it accepts connections. Connect to it with
// nats.InProcessServer.
func Start(storeDir string, opts ...Option) (*server.Server, error) {
	if storeDir == "" {
		return nil, errors.New("natsserver: the embedded NATS server needs a store directory")
	}
	o := options{names: subject.Names{Prefix: subject.DefaultPrefix}}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	sopts := &server.Options{
		ServerName: "clavis-embedded",
		JetStream:  true,
		StoreDir:   storeDir,
		NoSigs:     true,
		NoLog:      o.log == nil,
		DontListen: !o.listen,
		Host:       o.host,
		Port:       o.port,
	}
	if o.listen && o.port != server.RANDOM_PORT {
		// The server only logs a port it cannot bind; find out now.
		addr := net.JoinHostPort(o.host, strconv.Itoa(o.port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("natsserver: the embedded nats server cannot listen on %s (set another address, or off): %w", addr, err)
		}
		ln.Close()
	}
	if o.password != "" {
		hash, err := passwordHash(o.password)
		if err != nil {
			return nil, err
		}
		sopts.Users = []*server.User{{Username: InternalUser, Password: hash}}
		// Without a port only the node connects: no subscribers, no
		// account of theirs.
		if !sopts.DontListen {
			public := server.NewAccount(PublicAccount)
			sopts.Accounts = []*server.Account{public}
			sopts.Nkeys = []*server.NkeyUser{{Nkey: subscriberKey, Account: public, Permissions: subscriberPermissions(o.names)}}
			sopts.NoAuthUser = subscriberKey
		}
	}
	// An earlier layout gave PublicAccount a JetStream of its own; what
	// subscribers left there (consumers whose recovery alone could keep
	// the server busy for minutes) has no use now.
	if err := removePublicJetStream(storeDir); err != nil {
		return nil, err
	}
	ns, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("natsserver: start nats server: %w", err)
	}
	if o.log != nil {
		ns.SetLoggerV2(&natsLogger{l: o.log}, false, false, false)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("natsserver: the embedded nats server did not start within 30s")
	}
	if len(sopts.Accounts) > 0 {
		if err := setUpPublicAccount(ns, o.names); err != nil {
			ns.Shutdown()
			return nil, err
		}
	}
	return ns, nil
}

// passwordHash is what the server keeps of the internal user's password:
// a bcrypt hash, which nats-server recognises by its "$2a$" prefix, so
// that the plaintext stays in the password file and the node's memory.
// The generated password is 256 random bits, which no work factor makes
// any harder to guess, so the hash uses bcrypt's lowest cost and each
// connection's check stays cheap. bcrypt reads at most 72 bytes: a longer
// password (written by hand) is kept as it is, and the server says so.
func passwordHash(password string) (string, error) {
	if len(password) > 72 {
		return password, nil
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		return "", fmt.Errorf("natsserver: hash the nats password: %w", err)
	}
	return string(h), nil
}

// natsLogger forwards the server's log lines to slog. What a client
// causes (a permission violation, a protocol error, a slow consumer) is
// no fault of the node and comes as fast as a client can send: it goes
// to Debug, and at most once every clientErrorEvery a Warn says how many
// there were, so that no client can flood the log.
type natsLogger struct {
	l *slog.Logger

	mu     sync.Mutex
	last   time.Time // of the last Warn about client errors
	counts int       // client errors since
}

// clientErrorEvery is the least time between two Warns about
// client-caused errors.
const clientErrorEvery = 10 * time.Second

// clientCaused reports whether a line of the server is about one client
// connection: nats-server prefixes those with the connection's address
// and id ("127.0.0.1:5000 - cid:7 - ...").
func clientCaused(line string) bool {
	return strings.Contains(line, " - cid:")
}

func (n *natsLogger) Noticef(format string, v ...any) {
	n.l.Debug(fmt.Sprintf(format, v...), "component", "nats")
}
func (n *natsLogger) Warnf(format string, v ...any) {
	n.log(slog.LevelWarn, fmt.Sprintf(format, v...))
}
func (n *natsLogger) Fatalf(format string, v ...any) {
	n.l.Error(fmt.Sprintf(format, v...), "component", "nats")
}
func (n *natsLogger) Errorf(format string, v ...any) {
	n.log(slog.LevelError, fmt.Sprintf(format, v...))
}
func (n *natsLogger) Debugf(format string, v ...any) {}
func (n *natsLogger) Tracef(format string, v ...any) {}

func (n *natsLogger) log(level slog.Level, line string) {
	if !clientCaused(line) {
		n.l.Log(context.Background(), level, line, "component", "nats")
		return
	}
	n.l.Debug(line, "component", "nats")
	n.mu.Lock()
	n.counts++
	now := time.Now()
	if now.Sub(n.last) < clientErrorEvery {
		n.mu.Unlock()
		return
	}
	count := n.counts
	n.last, n.counts = now, 0
	n.mu.Unlock()
	n.l.Warn("NATS clients caused errors (each is logged at debug level)", "component", "nats", "count", count, "last", line)
}
