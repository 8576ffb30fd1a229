// Package pgtest gives tests their own PostgreSQL database: a random name
// on the server named by CLAVIS_TEST_DATABASE_URL (default: the local
// server, user postgres, database test), created for a test package and
// dropped after it. Schemas inside it isolate tests further. It never skips:
// an unreachable server fails the test with how to start one.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the server tests use unless CLAVIS_TEST_DATABASE_URL says
// otherwise.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

const howToStart = `PostgreSQL is not reachable. Start it with
  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
or point CLAVIS_TEST_DATABASE_URL at a server where the user may create databases`

// ServerURL is the URL of the server tests create their databases on.
func ServerURL() string {
	if u := os.Getenv("CLAVIS_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// CreateDatabase creates a database with a random name and returns its URL
// and a function that drops it. It is meant for TestMain.
func CreateDatabase(ctx context.Context) (dbURL string, drop func(), err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	server := ServerURL()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return "", nil, fmt.Errorf("%s\n(connect %s: %w)", howToStart, server, err)
	}
	defer conn.Close(ctx)
	name := randomName("clavis_test_")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(server)
	if err != nil {
		return "", nil, fmt.Errorf("parse %s: %w", server, err)
	}
	u.Path = "/" + name
	drop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, server)
		if err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: drop %s: %v\n", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: drop %s: %v\n", name, err)
		}
	}
	return u.String(), drop, nil
}

// Main runs a test package against its own database, exported to the
// tests as *dbURL, and drops the database afterwards.
func Main(m *testing.M, dbURL *string) int {
	u, drop, err := CreateDatabase(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer drop()
	*dbURL = u
	return m.Run()
}

// Schema creates a schema with a random name in the database at dbURL
// and returns a URL whose connections use it; it is dropped on cleanup.
func Schema(t testing.TB, dbURL string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("%s\n(connect %s: %v)", howToStart, dbURL, err)
	}
	defer conn.Close(ctx)
	name := randomName("s_")
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dbURL)
		if err != nil {
			t.Logf("drop schema %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP SCHEMA "+name+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}
