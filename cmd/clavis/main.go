// Command clavis is the Clavis binary: the server (serve), the
// database migrations (migrate up, migrate status), the operator's
// commands over the HTTP API (tenant …, client …), a tenant's OAuth 2.0
// endpoints as a client (token, introspect, revoke), a readiness check
// (health), a tenant's audit log (audit …) and the version. The load
// generator is a binary of its own, clavis-bench.
//
// Every setting is a flag and a CLAVIS_* environment variable; a flag
// wins over its variable. `clavis help` lists the commands and
// `clavis <command> --help` a command's flags. Usage errors (an unknown
// command or flag, an invalid setting) exit with status 2, failures with
// status 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, the next one kills at once.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// command is one subcommand: its help, the settings it reads, and what it
// does once its configuration is valid and its logger built.
type command struct {
	name     string // as typed: "serve", "migrate up"
	summary  string // one line for the command list
	about    string // the paragraph its help starts with
	settings []string
	run      func(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) error
}

var (
	allSettings = []string{"addr", "public-url", "data-dir", "database-url", "sqlite-full-sync", "root-token", "master-key", "migrate",
		"dev-login", "jwks-allow-private", "webhooks-allow-private", "trusted-proxies", "nats-url", "nats-listen", "nats-creds", "nats-tls-ca", "nats-tls-cert", "nats-tls-key", "nats-prefix", "nats-replicas",
		"grants-max-bytes", "flow-rate-per-address", "flow-rate-per-client", "refresh-rate-per-client", "log-format", "log-level"}
	migrateSettings = []string{"data-dir", "database-url", "log-format", "log-level"}
)

var commands = []*command{
	{
		name:    "serve",
		summary: "run the server",
		about: `Serve runs a Clavis node: it opens the event store (embedded SQLite in the
data directory unless --database-url names PostgreSQL), applies pending
migrations unless --migrate=false, and serves HTTP on --addr until SIGINT or
SIGTERM, then finishes the requests in flight and exits.`,
		settings: allSettings,
		run:      serve,
	},
	{
		name:    "migrate up",
		summary: "apply pending database migrations",
		about: `Migrate up applies every pending migration to the event store that
--database-url (or the embedded SQLite in --data-dir) selects, and prints the
versions it applied.`,
		settings: migrateSettings,
		run:      migrateUp,
	},
	{
		name:    "migrate status",
		summary: "list the migrations and whether each is applied",
		about: `Migrate status prints every migration of the event store that --database-url
(or the embedded SQLite in --data-dir) selects: its version, whether it is
applied, and its source file.`,
		settings: migrateSettings,
		run:      migrateStatus,
	},
	{
		name:    "projections rebuild",
		summary: "drop the read model, the audit logs and the webhook endpoints and replay them from the event store",
		about: `Projections rebuild drops a projection and replays it from the event store
itself, not from NATS, then prints how many events it applied and how fast.
read_model is the read model (tenants, clients, the client_id lookup);
audit_log is the tenants' audit logs, whose signed checkpoints are kept and
checked against the rebuilt logs: one they disagree with fails the rebuild,
naming the tenant and the size, for the event store no longer holds the
history that was signed. webhooks is the tenants' webhook endpoints; their
delivery cursors and attempt logs are kept, so no receiver is sent again
what it got. Without a name all three are rebuilt. Running nodes keep
serving meanwhile.`,
		settings: migrateSettings,
		run:      projectionsRebuild(""),
	},
	{
		name:    "projections status",
		summary: "show where the read model stands against the event store",
		about: `Projections status prints each projection's checkpoint, the event store's
head, whether it has caught up, and how far behind it is.`,
		settings: migrateSettings,
		run:      projectionsStatus,
	},
	{
		name:    "version",
		summary: "print the version",
		about:   `Version prints the Clavis version, the Go version it was built with, and the VCS revision when the build recorded one.`,
		run:     printVersion,
	},
}

// run is the whole command line: it returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "clavis: no command given")
		fmt.Fprintln(stderr)
		rootUsage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) == 1 {
			rootUsage(stdout)
			return exitOK
		}
		if len(args) == 2 && args[1] == "migrate" {
			migrateUsage(stdout)
			return exitOK
		}
		if len(args) == 2 && args[1] == "projections" {
			projectionsUsage(stdout)
			return exitOK
		}
		if cmd := findCommand(strings.Join(args[1:], " ")); cmd != nil {
			cmd.usage(stdout)
			return exitOK
		}
		if isAPICommand(args[1]) {
			return helpAPI(args[1:], getenv, stdout, stderr)
		}
		fmt.Fprintf(stderr, "clavis help: unknown command %q\n\n", strings.Join(args[1:], " "))
		rootUsage(stderr)
		return exitUsage
	case "tenant", "client", "webhook", "events":
		return runAPI(ctx, args[0], args[1:], getenv, stdout, stderr)
	case "audit":
		if len(args) > 1 && args[1] == "verify" {
			return auditVerify(ctx, args[2:], getenv, stdout, stderr)
		}
		return runAPI(ctx, args[0], args[1:], getenv, stdout, stderr)
	case "projections":
		if len(args) == 1 {
			fmt.Fprintln(stderr, "clavis projections: missing subcommand (rebuild or status)")
			fmt.Fprintln(stderr)
			projectionsUsage(stderr)
			return exitUsage
		}
		switch args[1] {
		case "help", "-h", "-help", "--help":
			if len(args) > 2 { // clavis projections help rebuild
				return run(ctx, append([]string{"help", "projections"}, args[2:]...), getenv, stdout, stderr)
			}
			projectionsUsage(stdout)
			return exitOK
		}
		cmd := findCommand("projections " + args[1])
		if cmd == nil {
			fmt.Fprintf(stderr, "clavis projections: unknown subcommand %q\n", args[1])
			return exitUsage
		}
		rest := args[2:]
		if args[1] == "rebuild" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			if !slices.Contains(projectionNames, rest[0]) {
				fmt.Fprintf(stderr, "clavis projections rebuild: unknown projection %q (known: %s)\n", rest[0], strings.Join(projectionNames, ", "))
				return exitUsage
			}
			named := *cmd
			named.run = projectionsRebuild(rest[0])
			cmd = &named
			rest = rest[1:]
		}
		return cmd.exec(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		if len(args) == 1 {
			fmt.Fprintln(stderr, "clavis migrate: missing subcommand (up or status)")
			fmt.Fprintln(stderr)
			migrateUsage(stderr)
			return exitUsage
		}
		switch args[1] {
		case "help", "-h", "-help", "--help":
			migrateUsage(stdout)
			return exitOK
		}
		cmd := findCommand("migrate " + args[1])
		if cmd == nil {
			fmt.Fprintf(stderr, "clavis migrate: unknown subcommand %q\n\n", args[1])
			migrateUsage(stderr)
			return exitUsage
		}
		return cmd.exec(ctx, args[2:], getenv, stdout, stderr)
	}
	if cmd, rest := findAPICommand("", args[:1]); cmd != nil { // token, introspect, revoke, health
		return cmd.exec(ctx, append(rest, args[1:]...), getenv, stdout, stderr)
	}
	cmd := findCommand(args[0])
	if cmd == nil || strings.Contains(cmd.name, " ") {
		fmt.Fprintf(stderr, "clavis: unknown command %q\n\n", args[0])
		rootUsage(stderr)
		return exitUsage
	}
	return cmd.exec(ctx, args[1:], getenv, stdout, stderr)
}

func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// exec parses the command's flags and variables, validates them, builds
// the logger and runs the command.
func (c *command) exec(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("clavis "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and help are printed below
	fs.Usage = func() {}
	cfg, err := loadConfig(fs, args, getenv, c.settings)
	switch {
	case errors.Is(err, flag.ErrHelp):
		c.usage(stdout)
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "clavis %s: %v\n\n", c.name, err)
		c.usage(stderr)
		return exitUsage
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "clavis %s: unexpected argument %q\n\n", c.name, fs.Arg(0))
		c.usage(stderr)
		return exitUsage
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "clavis %s: invalid configuration:\n", c.name)
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "  %s\n", line)
		}
		return exitUsage
	}
	log := newLogger(cfg, stderr)
	if err := c.run(ctx, cfg, log, stdout); err != nil {
		log.Error("command failed", "command", c.name, "error", err)
		return exitFailure
	}
	return exitOK
}

// newLogger builds the process's logger from the log settings; it writes
// to w. This is the only logger: everything else is handed it.
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	level, err := parseLevel(cfg.LogLevel)
	if err != nil {
		level = slog.LevelInfo // Validate has refused it already
	}
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.LogFormat
	if format == "auto" || format == "" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(traceHandler{slog.NewTextHandler(w, opts)})
	}
	return slog.New(traceHandler{slog.NewJSONHandler(w, opts)})
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func rootUsage(w io.Writer) {
	fmt.Fprint(w, `Clavis manages the OAuth 2.0 / OpenID Connect clients of many tenants,
keeping every change as an event.

Usage:
  clavis <command> [flags]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-16s %s\n", "tenant <command>", "tenants over the HTTP API: "+apiSummaries("tenant"))
	fmt.Fprintf(w, "  %-16s %s\n", "client <command>", "clients over the HTTP API: "+apiSummaries("client"))
	fmt.Fprintf(w, "  %-16s %s\n", "audit <command>", "a tenant's audit log: "+apiSummaries("audit")+", verify")
	fmt.Fprintf(w, "  %-16s %s\n", "webhook <command>", "a tenant's webhook endpoints: "+apiSummaries("webhook"))
	fmt.Fprintf(w, "  %-16s %s\n", "events <command>", "a tenant's events for downstream services: "+apiSummaries("events"))
	for _, c := range apiCommands {
		if c.group == "" {
			fmt.Fprintf(w, "  %-16s %s\n", c.name, c.summary)
		}
	}
	fmt.Fprintf(w, "  %-16s %s\n", "help [command]", "print this help, or a command's")
	fmt.Fprint(w, `
Every flag can also be set with the CLAVIS_* environment variable that
"clavis <command> --help" names beside it; a flag wins over its variable.
`)
}

func projectionsUsage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  clavis projections rebuild [read_model] [flags]   drop the read model and replay it from the event store
  clavis projections status [flags]                 show where the read model stands against the event store

Run "clavis projections rebuild --help" or "clavis projections status --help" for the flags.
`)
}

// isAPICommand reports whether name is a command over HTTP (a group or a
// top-level one).
func isAPICommand(name string) bool {
	if isGroup(name) {
		return true
	}
	cmd, _ := findAPICommand("", []string{name})
	return cmd != nil
}

func migrateUsage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  clavis migrate up [flags]       apply pending database migrations
  clavis migrate status [flags]   list the migrations and whether each is applied

Run "clavis migrate up --help" or "clavis migrate status --help" for the flags.
`)
}

// usage prints the command's help: what it does and every flag with its
// variable and default.
func (c *command) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage:\n  clavis %s", c.name)
	if len(c.settings) > 0 {
		fmt.Fprint(w, " [flags]")
	}
	fmt.Fprintf(w, "\n\n%s\n", c.about)
	if len(c.settings) == 0 {
		return
	}
	fmt.Fprint(w, "\nFlags (each also read from its environment variable; a flag wins):\n")
	for _, name := range c.settings {
		s := lookupSetting(name)
		sep := " "
		if s.arg == "BOOL" { // a boolean flag takes its value only after "="
			sep = "="
		}
		fmt.Fprintf(w, "  --%s%s%s\n", s.name, sep, s.arg)
		fmt.Fprintf(w, "        %s\n", s.usage)
		fmt.Fprintf(w, "        env %s, default %s\n", envName(s.name), s.def)
	}
	fmt.Fprint(w, "  -h, --help\n        print this help\n")
}
