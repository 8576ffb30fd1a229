package oauth

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// A login application's answer to a challenge (an acceptance or a
// rejection) writes nothing: it goes back to the browser sealed in the
// verifier, as Ory Hydra carries its flows in challenges since 2.2, and
// the browser's return reads it from there and moves the flow on with
// the one compare-and-set that uses the verifier up. A flow takes two
// writes less that way, one for each answer.
//
// The seal is XChaCha20-Poly1305 under a key of the node's HMAC secret
// (its 192-bit random nonces do not repeat however many answers one key
// seals, where AES-GCM's 96-bit ones would want a new key after 2³²),
// bound to the tenant, the kind of challenge and the flow, so that a
// verifier is good for that flow only, brought back as that kind; it
// holds the revision of the flow the answer was given to, so that it is
// refused once anything moved the flow on (another answer's verifier
// brought back first, or the flow used up). A challenge may therefore
// be answered more than once while the browser has not come back: each
// answer gets its verifier, the first one brought back counts, and the
// others are refused as used. An answer too large for a URL
// (sealedVerifierMax; claims of a kilobyte or so) is kept with the flow
// as before, under a random verifier, and its challenge counts as
// answered at once.

// sealedVerifierMax is the longest sealed verifier, in bytes (a subject,
// its authentication methods and a few claims take 300 to 600): with
// the authorization endpoint's path and the cookies of a browser with
// many flows under way it stays within the 4 KiB a request's line and
// headers may take.
const sealedVerifierMax = 1024

// sealedMark separates a sealed verifier's flow from its seal; a stored
// verifier has a '.' there.
const sealedMark = "~"

// sealedAnswer is what a sealed verifier carries: the answer, and the
// revision of the flow it answers.
type sealedAnswer struct {
	Rev       uint64           `cbor:"1,keyasint"`
	Stage     string           `cbor:"2,keyasint"`
	Login     *LoginAcceptance `cbor:"3,keyasint,omitempty"`
	AuthTime  time.Time        `cbor:"4,keyasint"`
	Granted   []string         `cbor:"5,keyasint,omitempty"`
	Rejection *Rejection       `cbor:"6,keyasint,omitempty"`
}

// answerOf is the answer change made of a flow read at revision rev.
func answerOf(fl *flow, rev uint64) *sealedAnswer {
	a := &sealedAnswer{Rev: rev, Stage: fl.Stage, Rejection: fl.Rejection}
	switch fl.Stage {
	case stageLoggedIn:
		a.Login, a.AuthTime = fl.Login, fl.AuthTime
	case stageConsented:
		a.Granted = fl.GrantedScopes
	}
	return a
}

// apply moves fl to the answer's stage, as the answer moved it.
func (a *sealedAnswer) apply(fl *flow) {
	fl.Stage, fl.Rejection = a.Stage, a.Rejection
	switch a.Stage {
	case stageLoggedIn:
		fl.Login, fl.AuthTime = a.Login, a.AuthTime
	case stageConsented:
		fl.GrantedScopes = a.Granted
	}
}

// newAnswerSeal is the seal of answers under key (see deriveKeys).
func newAnswerSeal(key []byte) cipher.AEAD {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	return aead
}

// sealAnswer writes the verifier of answer a to the challenge of kind
// for flow id of tenant; false when it would be longer than
// sealedVerifierMax.
func (p *Provider) sealAnswer(tenant, kind, id string, a *sealedAnswer) (string, bool) {
	raw, err := encodeRecord(a)
	if err != nil {
		return "", false
	}
	seal := p.answerSeals[0]
	n := seal.NonceSize()
	box := make([]byte, n, n+len(raw)+seal.Overhead())
	_, _ = rand.Read(box)
	box = seal.Seal(box, box, raw, answerBinding(tenant, kind, id))
	v := id + sealedMark + base64.RawURLEncoding.EncodeToString(box)
	return v, len(v) <= sealedVerifierMax
}

// openAnswer reads a sealed verifier brought back as kind to tenant:
// its flow and its answer; false for anything that is not one.
func (p *Provider) openAnswer(tenant, kind, v string) (string, *sealedAnswer, bool) {
	if len(v) > sealedVerifierMax {
		return "", nil, false
	}
	id, sealed, ok := strings.Cut(v, sealedMark)
	if !ok {
		return "", nil, false
	}
	box, err := base64.RawURLEncoding.Strict().DecodeString(sealed)
	n := chacha20poly1305.NonceSizeX
	if err != nil || len(box) < n+chacha20poly1305.Overhead {
		return "", nil, false
	}
	// Under the current master key, or one being replaced (see
	// answerSeals).
	var raw []byte
	for _, seal := range p.answerSeals {
		if raw, err = seal.Open(nil, box[:n], box[n:], answerBinding(tenant, kind, id)); err == nil {
			break
		}
	}
	if err != nil {
		return "", nil, false
	}
	var a sealedAnswer
	if err := decodeRecord(raw, &a); err != nil {
		return "", nil, false
	}
	return id, &a, true
}

func answerBinding(tenant, kind, id string) []byte {
	return []byte(tenant + "\x00" + kind + "\x00" + id)
}
