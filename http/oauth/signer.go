package oauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ory/fosite/token/jwt"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/clavisiam/clavis/tenants/signing"
)

// signer signs the JWTs fosite issues (access and ID tokens) with the
// request's tenant's key, writing the compact JWS itself: fosite's
// default signer builds a go-jose signer and encodes through go-jose's
// JSON for every token, a fifth of the token endpoint's time besides the
// signature itself (BenchmarkServeToken). Everything else a signer does
// (validating an id_token_hint, hashing for at_hash) is fosite's.
type signer struct {
	*jwt.DefaultSigner
	p *Provider
}

// Generate signs claims with header (whose typ replaces the default
// "JWT"); the header's alg and kid are the key's.
func (s *signer) Generate(ctx context.Context, claims jwt.MapClaims, header jwt.Mapper) (string, string, error) {
	if claims == nil || header == nil {
		return "", "", fmt.Errorf("oauth: either claims or header is nil")
	}
	key, err := s.p.openedSigningKey(ctx)
	if err != nil {
		return "", "", err
	}
	return s.p.compactJWS(key, header.ToMap(), claims)
}

// compactJWS signs claims with key: a compact JWS whose header is
// header (its typ replacing the default "JWT") with the key's alg and
// kid. It returns the token and its signature part.
func (p *Provider) compactJWS(key signing.Key, header, claims map[string]any) (string, string, error) {
	rawHeader, err := p.encodedHeader(key, header)
	if err != nil {
		return "", "", err
	}
	rawClaims, err := json.Marshal(claims)
	if err != nil {
		return "", "", err
	}
	enc := base64.RawURLEncoding
	input := make([]byte, 0, len(rawHeader)+enc.EncodedLen(len(rawClaims))+1+180)
	input = append(input, rawHeader...)
	input = append(input, '.')
	input = enc.AppendEncode(input, rawClaims)
	sig, err := sign(key, input)
	if err != nil {
		return "", "", err
	}
	signature := enc.EncodeToString(sig)
	return string(append(append(input, '.'), signature...)), signature, nil
}

// headerID names a JWS header that has nothing but alg, kid and typ.
type headerID struct{ alg, kid, typ string }

// encodedHeader is compactJWS's header, base64url-encoded. The headers
// of access tokens and ID tokens differ only by key and typ, so these
// are encoded once per key and kept (a few per key a tenant ever
// signed with).
func (p *Provider) encodedHeader(key signing.Key, header map[string]any) ([]byte, error) {
	id, cacheable := headerID{key.Alg, key.KID, "JWT"}, len(header) == 0
	if typ, ok := header["typ"].(string); ok && len(header) == 1 {
		id.typ, cacheable = typ, true
	}
	if cacheable {
		if enc, ok := p.headers.Load(id); ok {
			return enc.([]byte), nil
		}
	}
	h := map[string]any{"typ": "JWT"}
	for k, v := range header {
		h[k] = v
	}
	h["alg"], h["kid"] = key.Alg, key.KID
	raw, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	enc := base64.RawURLEncoding.AppendEncode(nil, raw)
	if cacheable {
		p.headers.Store(id, enc)
	}
	return enc, nil
}

// sign makes the JWS signature of input with key (RFC 7518 §3: ECDSA's
// as r‖s of fixed width).
func sign(key signing.Key, input []byte) ([]byte, error) {
	switch priv := key.Private.(type) {
	case *ecdsa.PrivateKey:
		if key.Alg != "ES256" {
			return nil, fmt.Errorf("oauth: ECDSA key with alg %s", key.Alg)
		}
		// Deterministic ECDSA (RFC 6979; a nil rand asks crypto/ecdsa for
		// it): the nonce is derived from the key and the message, so no
		// random number generator can leak the key, and no two tokens
		// share a message (each has its own jti), so the fault attack on
		// deterministic signatures, which needs one message signed
		// twice, has nothing to work on. The hedged default
		// mixes randomness in through an HMAC-SHA-512 DRBG, a fifth more
		// per signature (BenchmarkQuickClientCredentials).
		digest := sha256.Sum256(input)
		der, err := priv.Sign(nil, digest[:], crypto.SHA256)
		if err != nil {
			return nil, err
		}
		return rawECDSA(der, 32)
	case *rsa.PrivateKey:
		if key.Alg != "RS256" {
			return nil, fmt.Errorf("oauth: RSA key with alg %s", key.Alg)
		}
		digest := sha256.Sum256(input)
		return rsa.SignPKCS1v15(nil, priv, crypto.SHA256, digest[:])
	case ed25519.PrivateKey:
		if key.Alg != "EdDSA" {
			return nil, fmt.Errorf("oauth: Ed25519 key with alg %s", key.Alg)
		}
		return ed25519.Sign(priv, input), nil
	}
	return nil, fmt.Errorf("oauth: unsupported signing key %T", key.Private)
}

// rawECDSA turns an ASN.1 ECDSA signature into JWS's form: r and s,
// each as size big-endian bytes.
func rawECDSA(der []byte, size int) ([]byte, error) {
	var seq, r, s cryptobyte.String
	in := cryptobyte.String(der)
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1(&r, asn1.INTEGER) || !seq.ReadASN1(&s, asn1.INTEGER) || !seq.Empty() {
		return nil, errors.New("oauth: malformed ECDSA signature")
	}
	out := make([]byte, 2*size)
	for i, n := range [][]byte{r, s} {
		n = bytes.TrimLeft(n, "\x00")
		if len(n) > size {
			return nil, errors.New("oauth: ECDSA signature too long")
		}
		copy(out[(i+1)*size-len(n):], n)
	}
	return out, nil
}
