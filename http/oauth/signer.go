package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/ory/fosite/token/jwt"

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
	return compactJWS(key, header.ToMap(), claims)
}

// compactJWS signs claims with key: a compact JWS whose header is
// header (its typ replacing the default "JWT") with the key's alg and
// kid. It returns the token and its signature part.
func compactJWS(key signing.Key, header, claims map[string]any) (string, string, error) {
	h := map[string]any{"typ": "JWT"}
	for k, v := range header {
		h[k] = v
	}
	h["alg"], h["kid"] = key.Alg, key.KID
	rawHeader, err := json.Marshal(h)
	if err != nil {
		return "", "", err
	}
	rawClaims, err := json.Marshal(claims)
	if err != nil {
		return "", "", err
	}
	enc := base64.RawURLEncoding
	input := make([]byte, 0, enc.EncodedLen(len(rawHeader))+enc.EncodedLen(len(rawClaims))+1+180)
	input = enc.AppendEncode(input, rawHeader)
	input = append(input, '.')
	input = enc.AppendEncode(input, rawClaims)
	sig, err := sign(key, input)
	if err != nil {
		return "", "", err
	}
	signature := enc.EncodeToString(sig)
	return string(append(append(input, '.'), signature...)), signature, nil
}

// sign makes the JWS signature of input with key (RFC 7518 §3: ECDSA's
// as r‖s of fixed width).
func sign(key signing.Key, input []byte) ([]byte, error) {
	switch priv := key.Private.(type) {
	case *ecdsa.PrivateKey:
		if key.Alg != "ES256" {
			return nil, fmt.Errorf("oauth: ECDSA key with alg %s", key.Alg)
		}
		digest := sha256.Sum256(input)
		r, s, err := ecdsa.Sign(rand.Reader, priv, digest[:])
		if err != nil {
			return nil, err
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out, nil
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
