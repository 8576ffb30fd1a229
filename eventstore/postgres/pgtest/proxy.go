package pgtest

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/clavisiam/clavis/internal/poll"
)

// Proxy stands between the code under test and PostgreSQL, and fails as
// a restarting server does, without restarting the server other tests
// share: [Proxy.Cut] closes every connection through it and refuses new
// ones, [Proxy.Restore] accepts them again, and [Proxy.LoseReply] lets
// one statement run but loses its answer.
type Proxy struct {
	tb     testing.TB
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	// marker, when set, makes the first connection that sends it lose
	// the server's next answer; it is cleared then.
	marker []byte
	lost   int
}

// StartProxy proxies a free loopback port to the server of dbURL until
// tb ends.
func StartProxy(tb testing.TB, dbURL string) *Proxy {
	tb.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{tb: tb, target: u.Host, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	tb.Cleanup(p.Cut)
	return p
}

// URL is dbURL with the proxy's address as its host and port.
func (p *Proxy) URL(dbURL string) string {
	p.tb.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		p.tb.Fatal(err)
	}
	u.Host = p.addr
	return u.String()
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

// pipe copies between c and a new connection to the server until either
// side closes or the proxy is cut.
func (p *Proxy) pipe(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // cut while dialling
		p.mu.Unlock()
		c.Close()
		s.Close()
		return
	}
	p.conns[c], p.conns[s] = struct{}{}, struct{}{}
	p.mu.Unlock()
	lose := make(chan struct{})
	done := make(chan struct{}, 2)
	go func() { p.forward(s, c, lose); done <- struct{}{} }()
	go func() { p.back(c, s, lose); done <- struct{}{} }()
	<-done
	c.Close()
	s.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, s)
	p.mu.Unlock()
}

// forward copies the client's bytes to the server, closing lose when
// they hold the marker.
func (p *Proxy) forward(s, c net.Conn, lose chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			p.mu.Lock()
			hit := p.marker != nil && bytes.Contains(buf[:n], p.marker)
			if hit {
				p.marker = nil
				p.lost++
			}
			p.mu.Unlock()
			if hit {
				close(lose)
			}
			if _, werr := s.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// back copies the server's bytes to the client; once lose is closed, it
// drops the server's whole answer, up to its ReadyForQuery message (so
// the statement ran to its end, committed), and then closes the
// client's side.
func (p *Proxy) back(c, s net.Conn, lose chan struct{}) {
	buf := make([]byte, 32<<10)
	var dropped []byte
	for {
		n, err := s.Read(buf)
		select {
		case <-lose:
			dropped = append(dropped, buf[:n]...)
			if answered(dropped) || err != nil {
				c.Close()
				return
			}
			continue
		default:
		}
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// answered reports whether b, backend messages from a message boundary
// on, holds a ReadyForQuery: the server finished the statement.
func answered(b []byte) bool {
	for len(b) >= 5 {
		if b[0] == 'Z' {
			return true
		}
		n := int(binary.BigEndian.Uint32(b[1:5]))
		if n < 4 || len(b) < 1+n {
			return false
		}
		b = b[1+n:]
	}
	return false
}

// Cut closes every connection through the proxy and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Restore accepts connections again, on the same address.
func (p *Proxy) Restore() {
	p.tb.Helper()
	var ln net.Listener
	poll.UntilNil(p.tb, 10*time.Second, func() (err error) {
		ln, err = net.Listen("tcp", p.addr)
		return err
	})
	p.serve(ln)
}

// LoseReply makes the first connection that sends marker (a value bound
// to a statement, say) lose the server's answer to it: the statement
// runs, and the client's connection is closed before any of its answer
// arrives, as when a server restarts right after committing.
func (p *Proxy) LoseReply(marker string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.marker = []byte(marker)
}

// Lost is how many answers LoseReply lost so far.
func (p *Proxy) Lost() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lost
}
