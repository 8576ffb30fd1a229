package relay

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
)

// ServerConfig configures the in-process NATS server of the embedded
// default.
type ServerConfig struct {
	// StoreDir holds JetStream's files.
	StoreDir string
	// Listen is the loopback address local tools connect to: "host:port",
	// "host:0" for a free port, or "off" for no port at all (in-process
	// connections only).
	Listen string
	// Logger receives the server's notices and errors.
	Logger *slog.Logger
	// Password, when set, is required of the user [InternalUser], who may
	// do everything; everyone else connects without credentials as a
	// downstream subscriber, in [PublicAccount], who may only subscribe to
	// the public events as they are published (core NATS: no JetStream,
	// no publishing) and never reach anything of the node's account.
	// Empty: no authorisation (tests).
	Password string
	// Names are the streams and subjects the subscriber rule refers to.
	Names Names
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
func subscriberPermissions(n Names) *server.Permissions {
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Deny: []string{">"}},
		Subscribe: &server.SubjectPermission{Allow: []string{n.PublicFilter()}},
	}
}

// StartServer starts an in-process NATS server with JetStream and waits
// until it accepts connections. Connect to it with nats.InProcessServer.
func StartServer(cfg ServerConfig) (*server.Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("relay: the embedded NATS server needs a store directory")
	}
	opts := &server.Options{
		ServerName: "clavis-embedded",
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		NoLog:      cfg.Logger == nil,
	}
	if cfg.Listen == "off" || cfg.Listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("relay: nats listen address %q: %w", cfg.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("relay: nats listen port %q is not a port", port)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		} else {
			// The server only logs a port it cannot bind; find out now.
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return nil, fmt.Errorf("relay: the embedded nats server cannot listen on %s (set another address, or off): %w", cfg.Listen, err)
			}
			ln.Close()
		}
		opts.Host, opts.Port = host, p
	}
	if cfg.Password != "" {
		hash, err := passwordHash(cfg.Password)
		if err != nil {
			return nil, err
		}
		opts.Users = []*server.User{{Username: InternalUser, Password: hash}}
		// Without a port only the node connects: no subscribers, no
		// account of theirs.
		if !opts.DontListen {
			public := server.NewAccount(PublicAccount)
			opts.Accounts = []*server.Account{public}
			opts.Nkeys = []*server.NkeyUser{{Nkey: subscriberKey, Account: public, Permissions: subscriberPermissions(cfg.Names)}}
			opts.NoAuthUser = subscriberKey
		}
	}
	// An earlier layout gave PublicAccount a JetStream of its own; what
	// subscribers left there (consumers whose recovery alone could keep
	// the server busy for minutes) has no use now.
	if err := removePublicJetStream(cfg.StoreDir); err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("relay: start nats server: %w", err)
	}
	if cfg.Logger != nil {
		ns.SetLoggerV2(&natsLogger{l: cfg.Logger}, false, false, false)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("relay: the embedded nats server did not start within 30s")
	}
	if len(opts.Accounts) > 0 {
		if err := setUpPublicAccount(ns, cfg.Names); err != nil {
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
		return "", fmt.Errorf("relay: hash the nats password: %w", err)
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
