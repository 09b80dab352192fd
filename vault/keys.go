package vault

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
)

// Caller key format (contracts.md): "gatehouse_app_<id>_<secret>" or
// "gatehouse_agent_<id>_<secret>", id 16 and secret 52 lowercase base32
// characters (10 and 32 random bytes). The fixed prefix lets secret scanners
// recognise a leaked key.
const (
	AppKeyPrefix   = "gatehouse_app_"
	AgentKeyPrefix = "gatehouse_agent_"

	KeyKindApp   = "app"
	KeyKindAgent = "agent"

	keyIDBytes     = 10
	keySecretBytes = 32
	keyIDLen       = 16 // base32 of 10 bytes
	keySecretLen   = 52 // base32 of 32 bytes, unpadded
)

// GrantPlaceholderPrefix starts a grant placeholder: the prefix followed by a
// grant UUID, used by clients wherever the real credential would go.
const GrantPlaceholderPrefix = "gatehouse_grant_"

// keyEncoding is lowercase RFC 4648 base32 without padding.
var keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newKey returns a fresh plaintext caller key of the given kind and its id.
func newKey(kind string) (plaintext, id string, err error) {
	prefix := AppKeyPrefix
	if kind == KeyKindAgent {
		prefix = AgentKeyPrefix
	}
	buf := make([]byte, keyIDBytes+keySecretBytes)
	defer clear(buf)
	if _, err := rand.Read(buf); err != nil {
		return "", "", fmt.Errorf("generate key: %w", err)
	}
	id = keyEncoding.EncodeToString(buf[:keyIDBytes])
	return prefix + id + "_" + keyEncoding.EncodeToString(buf[keyIDBytes:]), id, nil
}

// ParseKey checks the format of a plaintext caller key and returns its kind
// ("app" or "agent") and public key id. Any other input wraps ErrInvalid; the
// error never quotes the input, which may be a real secret.
func ParseKey(plaintext string) (kind, id string, err error) {
	var rest string
	switch {
	case strings.HasPrefix(plaintext, AppKeyPrefix):
		kind, rest = KeyKindApp, plaintext[len(AppKeyPrefix):]
	case strings.HasPrefix(plaintext, AgentKeyPrefix):
		kind, rest = KeyKindAgent, plaintext[len(AgentKeyPrefix):]
	default:
		return "", "", fmt.Errorf("key must start with %s or %s: %w", AppKeyPrefix, AgentKeyPrefix, ErrInvalid)
	}
	if len(rest) != keyIDLen+1+keySecretLen || rest[keyIDLen] != '_' {
		return "", "", fmt.Errorf("key has the wrong length or layout: %w", ErrInvalid)
	}
	id, secret := rest[:keyIDLen], rest[keyIDLen+1:]
	if !canonicalBase32(id, keyIDBytes) || !canonicalBase32(secret, keySecretBytes) {
		return "", "", fmt.Errorf("key is not lowercase base32: %w", ErrInvalid)
	}
	return kind, id, nil
}

// canonicalBase32 reports whether s is the unique lowercase unpadded base32
// spelling of exactly n bytes. Re-encoding rejects what the decoder
// tolerates: non-zero trailing bits and ignored newlines.
func canonicalBase32(s string, n int) bool {
	b, err := keyEncoding.DecodeString(s)
	defer clear(b)
	return err == nil && len(b) == n && keyEncoding.EncodeToString(b) == s
}

// hashKey returns HMAC-SHA256(pepper, plaintext), the only stored form of a key.
func hashKey(pepper []byte, plaintext string) []byte {
	mac := hmac.New(sha256.New, pepper)
	mac.Write([]byte(plaintext))
	return mac.Sum(nil)
}

// GrantPlaceholder returns the placeholder for grantID.
func GrantPlaceholder(grantID string) string { return GrantPlaceholderPrefix + grantID }

// ParseGrantPlaceholder returns the grant id of a placeholder
// "gatehouse_grant_<uuid>". The UUID must be in canonical lowercase
// 8-4-4-4-12 form; anything else (braces, urn:, upper case, extra bytes) is
// not a placeholder.
func ParseGrantPlaceholder(s string) (grantID string, ok bool) {
	id, found := strings.CutPrefix(s, GrantPlaceholderPrefix)
	if !found || !IsCanonicalUUID(id) {
		return "", false
	}
	return id, true
}

// IsCanonicalUUID reports whether s is a UUID in canonical lowercase
// 8-4-4-4-12 hex form, the only form Gatehouse issues.
func IsCanonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}
