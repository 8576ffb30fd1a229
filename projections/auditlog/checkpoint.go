package auditlog

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// ErrCheckpoint matches every error about a checkpoint that does not
// parse or does not verify.
var ErrCheckpoint = errors.New("auditlog: bad checkpoint")

// Checkpoint is a tree head in the C2SP tlog-checkpoint format: the
// log's origin (which is also the name of the key that signs it), the
// tree's size and its root hash.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

// Text is the checkpoint's body, the text a note signs: three lines,
// each ending in a newline: the origin, the size in decimal, the root
// hash in standard base64.
func (c Checkpoint) Text() string {
	return c.Origin + "\n" + strconv.FormatInt(c.Size, 10) + "\n" + base64.StdEncoding.EncodeToString(c.Root[:]) + "\n"
}

// ParseCheckpoint reads a checkpoint's body. Extension lines after the
// root hash, which the format allows, are ignored.
func ParseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 || lines[0] == "" || len(text) > 1<<16 {
		return Checkpoint{}, fmt.Errorf("%w: not three lines of origin, size and root hash", ErrCheckpoint)
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || lines[1] != strconv.FormatInt(n, 10) {
		return Checkpoint{}, fmt.Errorf("%w: size %q is not a decimal number", ErrCheckpoint, lines[1])
	}
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("%w: root hash %q is not 32 bytes of base64", ErrCheckpoint, lines[2])
	}
	return Checkpoint{Origin: lines[0], Size: n, Root: tlog.Hash(h)}, nil
}

// Sign returns the checkpoint as a signed note. The signer's name must
// be the checkpoint's origin.
func Sign(c Checkpoint, s note.Signer) ([]byte, error) {
	if s.Name() != c.Origin {
		return nil, fmt.Errorf("%w: key %q cannot sign the log %q", ErrCheckpoint, s.Name(), c.Origin)
	}
	msg, err := note.Sign(&note.Note{Text: c.Text()}, s)
	if err != nil {
		return nil, fmt.Errorf("auditlog: sign checkpoint: %w", err)
	}
	return msg, nil
}

// Open verifies a signed checkpoint against the verifier keys (in the
// note format "name+hash+base64") and returns it. It needs a valid
// signature by a key whose name is the checkpoint's origin; signatures
// by unknown keys are ignored, as the note format intends.
func Open(signed []byte, verifierKeys ...string) (Checkpoint, error) {
	vs := make([]note.Verifier, 0, len(verifierKeys))
	for _, k := range verifierKeys {
		v, err := note.NewVerifier(strings.TrimSpace(k))
		if err != nil {
			return Checkpoint{}, fmt.Errorf("%w: verifier key %q: %v", ErrCheckpoint, k, err)
		}
		vs = append(vs, v)
	}
	// A checkpoint saved to a file may have gained line ends; a note ends
	// in exactly one.
	trimmed := bytes.TrimRight(signed, "\r\n")
	signed = append(trimmed[:len(trimmed):len(trimmed)], '\n') // a copy: the caller's bytes stay as they are
	n, err := note.Open(signed, note.VerifierList(vs...))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	for _, sig := range n.Sigs {
		if sig.Name == c.Origin {
			return c, nil
		}
	}
	return Checkpoint{}, fmt.Errorf("%w: no signature by the log's own key %q", ErrCheckpoint, c.Origin)
}

// Equal reports whether two checkpoints say the same.
func (c Checkpoint) Equal(d Checkpoint) bool {
	return c.Origin == d.Origin && c.Size == d.Size && bytes.Equal(c.Root[:], d.Root[:])
}
