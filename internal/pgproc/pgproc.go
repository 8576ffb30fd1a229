// Package pgproc runs a PostgreSQL server of a test's own: a cluster
// made by initdb in a temporary directory, on a free loopback port, that
// the test may restart, stop or kill as an operator or a crash would,
// without touching the server other tests share. It uses the PostgreSQL
// binaries installed on the machine (pg_config --bindir, or the newest
// /usr/lib/postgresql/*/bin); run as root, it runs them as the user
// postgres, since PostgreSQL refuses to run as root.
package pgproc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clavisiam/clavis/internal/poll"
)

// Server is one PostgreSQL server of a test. Its methods fail the test
// on error; they are safe for concurrent use.
type Server struct {
	tb   testing.TB
	bin  string
	dir  string // the cluster's base: data/, the socket, the log
	port int
	as   []string // the command prefix that runs as the cluster's owner

	mu sync.Mutex
}

// startTimeout bounds a start, a restart or a stop.
const startTimeout = 60 * time.Second

// Start makes a new cluster (user postgres, trust authentication) and
// starts it; it is stopped and deleted when tb ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{tb: tb, bin: binDir(tb), port: freePort(tb)}
	dir, err := os.MkdirTemp("", "pgproc-")
	if err != nil {
		tb.Fatal(err)
	}
	s.dir = dir
	tb.Cleanup(func() {
		s.stop(true)
		_ = os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Fatalf("pgproc: running as root needs the user postgres to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
		s.as = []string{"runuser", "-u", "postgres", "--"}
	}
	s.run(startTimeout, "initdb", "-D", s.data(), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync")
	s.Restart()
	return s
}

// URL is the server's maintenance database, postgres, as user postgres.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// Restart shuts the server down as `pg_ctl restart -m fast` does (every
// session is ended, 57P01, and the server checkpoints) and starts it
// again, waiting until it accepts connections; a server that is stopped
// or was killed is just started (recovering, after a kill).
func (s *Server) Restart() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stop(false)
	// After a kill, the old backends may hold the shared memory a little
	// longer: start fails until they are gone.
	var out string
	poll.UntilNil(s.tb, startTimeout, func() error {
		var err error
		out, err = s.output(startTimeout, "pg_ctl", "-D", s.data(), "-l", filepath.Join(s.dir, "log"), "-w", "-t", "30",
			"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off", s.port, s.dir), "start")
		if err != nil {
			return fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, s.log())
		}
		return nil
	})
}

// Stop shuts the server down (fast: sessions are ended, the server
// checkpoints) and leaves it stopped until Restart.
func (s *Server) Stop() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stop(false)
}

// Kill ends the server with SIGKILL, as a crash or an out-of-memory
// killer would, and leaves it stopped until Restart, which recovers it.
func (s *Server) Kill() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	pid, ok := s.pid()
	if !ok {
		return
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		s.tb.Fatalf("pgproc: kill %d: %v", pid, err)
	}
	poll.Until(s.tb, startTimeout, "the killed postmaster gone", func() bool {
		return syscall.Kill(pid, 0) != nil
	})
}

// stop stops a running server; quietly (at cleanup) it reports nothing.
func (s *Server) stop(quiet bool) {
	if _, ok := s.pid(); !ok {
		return
	}
	out, err := s.output(startTimeout, "pg_ctl", "-D", s.data(), "-m", "fast", "-w", "-t", "30", "stop")
	if err != nil && !quiet {
		if _, running := s.pid(); running {
			s.tb.Fatalf("pgproc: pg_ctl stop: %v\n%s", err, out)
		}
	}
}

// pid is the postmaster's process id, when postmaster.pid names a live
// one.
func (s *Server) pid() (int, bool) {
	b, err := os.ReadFile(filepath.Join(s.data(), "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 || syscall.Kill(pid, 0) != nil {
		return 0, false
	}
	return pid, true
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// log is the server's log so far, for failure messages.
func (s *Server) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "log"))
	return string(b)
}

// run runs a PostgreSQL program as the cluster's owner, failing the test
// when it fails.
func (s *Server) run(timeout time.Duration, prog string, args ...string) {
	s.tb.Helper()
	if out, err := s.output(timeout, prog, args...); err != nil {
		s.tb.Fatalf("pgproc: %s: %v\n%s", prog, err, out)
	}
}

func (s *Server) output(timeout time.Duration, prog string, args ...string) (string, error) {
	argv := append(append(slices.Clone(s.as), filepath.Join(s.bin, prog)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.dir
	// pg_ctl leaves the postmaster running: it must not hold our output
	// pipes open, so the log goes to a file and the output to a buffer.
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		return out.String(), fmt.Errorf("%s did not finish within %s", prog, timeout)
	}
}

// binDir finds the PostgreSQL programs.
func binDir(tb testing.TB) string {
	tb.Helper()
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err == nil {
			return dir
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return va - vb
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "pg_ctl")); err == nil {
			return dirs[i]
		}
	}
	tb.Fatal("pgproc: PostgreSQL's programs (initdb, pg_ctl) are not installed: install the Debian package postgresql (or put pg_config on the PATH)")
	return ""
}

func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
