package node

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/clavisiam/clavis/tenants/signing"
)

// MinRootTokenLen is the fewest characters a root token may have.
const MinRootTokenLen = 32

// RootTokenFile is where a node keeps a generated root token, in the data dir.
const RootTokenFile = "root-token"

// LoadRootToken returns the platform operator's token: cfg.RootToken when set,
// else the one in {DataDir}/root-token, else a new random 256-bit token
// written there with mode 0600. It logs where a generated token went,
// never the token.
func LoadRootToken(cfg Config, log *slog.Logger) (string, error) {
	if cfg.RootToken != "" {
		return cfg.RootToken, nil
	}
	path := filepath.Join(cfg.DataDir, RootTokenFile)
	token, created, err := secretFile(path, log)
	if err != nil {
		return "", err
	}
	if created {
		log.Info("generated a root token; read it from its file", "path", path)
	} else {
		log.Info("using the root token from its file", "path", path)
	}
	return token, nil
}

// MasterKeyFile is where a node keeps a generated master key, in the data
// dir.
const MasterKeyFile = "master-key"

// LoadMasterKeys returns the keyring that seals tenants' signing keys:
// cfg.MasterKey when set, else the key in {DataDir}/master-key, else a new
// random one written there with mode 0600. On PostgreSQL every node must
// seal with the same key, which a file in one node's data dir is not: it
// says so.
func LoadMasterKeys(cfg Config, log *slog.Logger) (*signing.Keyring, error) {
	if cfg.MasterKey != "" {
		return signing.ParseKeyring(cfg.MasterKey)
	}
	path := filepath.Join(cfg.DataDir, MasterKeyFile)
	key, created, err := secretFile(path, log)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	if created {
		log.Info("generated a master key for signing keys at rest", "path", path)
	}
	if b, _ := StoreKind(cfg.DatabaseURL); b == Postgres {
		log.Warn("the master key comes from this node's data dir; give every node the same CLAVIS_MASTER_KEY", "path", path)
	}
	return signing.ParseKeyring(key)
}

// secretFile returns the secret kept at path, or writes a new random
// 256-bit one there (mode 0600, creating its directory 0700) and reports
// created. When another process writes it first, theirs is used.
func secretFile(path string, log *slog.Logger) (secret string, created bool, err error) {
	secret, err = readRootToken(path, log)
	if err == nil {
		return secret, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, fmt.Errorf("create data dir: %w", err)
	}
	secret, created, err = writeRootToken(path)
	if err != nil {
		return "", false, err
	}
	if !created { // another process wrote it first: use theirs
		secret, err = readRootToken(path, log)
		return secret, false, err
	}
	return secret, true, nil
}

// readRootToken reads a token file, warning when others may read it.
func readRootToken(path string, log *slog.Logger) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read root token: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if len(token) < MinRootTokenLen {
		return "", fmt.Errorf("read root token: %s holds %d characters, at least %d are needed", path, len(token), MinRootTokenLen)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the root token file is readable by others; chmod 600 it", "path", path, "mode", fi.Mode().Perm().String())
	}
	return token, nil
}

// writeRootToken creates path holding a new random token, atomically: the
// token goes to a private temporary file that is then linked into place,
// so a reader never sees a half-written file and two processes starting
// together end up with one token. created is false when path already
// existed (and token is then empty).
func writeRootToken(path string) (token string, created bool, err error) {
	var raw [32]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails
	token = base64.RawURLEncoding.EncodeToString(raw[:])

	tmp, err := os.CreateTemp(filepath.Dir(path), ".root-token-*") // mode 0600
	if err != nil {
		return "", false, fmt.Errorf("write root token: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("write root token: %w", err)
	}
	if _, err := tmp.WriteString(token + "\n"); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("write root token: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("write root token: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", false, fmt.Errorf("write root token: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("write root token: %w", err)
	}
	return token, true, nil
}
