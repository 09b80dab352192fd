package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"
)

// KEKSize is the size of a key-encryption key and of a data key (AES-256).
const KEKSize = 32

// ErrDecrypt reports a credential whose wrapped key or ciphertext does not
// authenticate: it was tampered with, moved to another row or version, or
// wrapped by a different key with the same id. It never carries plaintext.
var ErrDecrypt = errors.New("credential does not decrypt")

// materialWire is Material's sealed encoding. Material itself marshals to
// "[REDACTED]", so sealing goes through this type, which has the same
// fields and no methods.
type materialWire struct {
	Token        string    `json:"token,omitempty"`
	Username     string    `json:"username,omitempty"`
	Password     string    `json:"password,omitempty"`
	AccessToken  string    `json:"access_token,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	TokenType    string    `json:"token_type,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Scopes       []string  `json:"scopes,omitempty"`
	GrantType    string    `json:"grant_type,omitempty"`
}

// toWire drops Version, which is a property of the row, not of the
// sealed material.
func toWire(m Material) materialWire {
	return materialWire{
		Token: m.Token, Username: m.Username, Password: m.Password,
		AccessToken: m.AccessToken, RefreshToken: m.RefreshToken, TokenType: m.TokenType,
		Expiry: m.Expiry, Scopes: m.Scopes, GrantType: m.GrantType,
	}
}

// fromWire is toWire's inverse; version is the row's.
func fromWire(w materialWire, version int64) Material {
	return Material{
		Token: w.Token, Username: w.Username, Password: w.Password,
		AccessToken: w.AccessToken, RefreshToken: w.RefreshToken, TokenType: w.TokenType,
		Expiry: w.Expiry, Scopes: w.Scopes, GrantType: w.GrantType, Version: version,
	}
}

// formatV1 is the first byte of every wrapped key and ciphertext so the
// format can evolve without guessing.
const formatV1 = 0x01

// AAD domain labels keep a data-key wrap from ever verifying as a credential
// ciphertext and vice versa.
const (
	aadCredential = "gatehouse/credential/v1"
	aadDataKey    = "gatehouse/data-key/v1"
)

// Keyring holds the loaded key-encryption keys (KEKs) by id and names the
// active one that Seal wraps new data keys with. Older KEKs stay loaded so
// credentials sealed before a rotation still open. A Keyring is immutable and
// safe for concurrent use; it prints as "[REDACTED]".
type Keyring struct {
	active string
	keks   map[string]cipher.AEAD
}

// NewKeyring builds a Keyring from KEKs of KEKSize bytes each. active must be
// one of the ids. The key bytes are not retained beyond the AES key schedule.
func NewKeyring(active string, keks map[string][]byte) (*Keyring, error) {
	if _, ok := keks[active]; !ok {
		return nil, fmt.Errorf("active KEK id %q is not among the loaded keys: %w", truncate(active, 64), ErrInvalid)
	}
	k := &Keyring{active: active, keks: make(map[string]cipher.AEAD, len(keks))}
	for id, key := range keks {
		if id == "" || len(id) > 64 {
			return nil, fmt.Errorf("KEK id must be 1-64 characters: %w", ErrInvalid)
		}
		if len(key) != KEKSize {
			return nil, fmt.Errorf("KEK %q has %d bytes, want %d: %w", id, len(key), KEKSize, ErrInvalid)
		}
		aead, err := newGCM(key)
		if err != nil {
			return nil, fmt.Errorf("KEK %q: %w", id, err)
		}
		k.keks[id] = aead
	}
	return k, nil
}

// Active returns the id of the KEK that Seal uses.
func (k *Keyring) Active() string { return k.active }

// IDs returns the ids of all loaded KEKs, sorted.
func (k *Keyring) IDs() []string {
	ids := make([]string, 0, len(k.keks))
	for id := range k.keks {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// String implements fmt.Stringer so a Keyring never prints key material.
func (Keyring) String() string { return "[REDACTED]" }

// GoString implements fmt.GoStringer for %#v.
func (Keyring) GoString() string { return "[REDACTED]" }

// LogValue implements slog.LogValuer.
func (Keyring) LogValue() slog.Value { return slog.StringValue("[REDACTED]") }

// Seal encrypts m for the credential row (appID, credID, version) under a
// fresh random data key, and wraps that data key with the active KEK. The
// ciphertext's AAD binds app, credential id and version, so it cannot be moved
// to another row or replayed as another version.
func (k *Keyring) Seal(appID, credID string, version int64, m Material) (kekID string, wrapped, ciphertext []byte, err error) {
	plain, err := json.Marshal(toWire(m))
	if err != nil {
		return "", nil, nil, errors.New("seal: encode material") // never wrap: it could quote the value
	}
	defer clear(plain)
	dek := make([]byte, KEKSize)
	defer clear(dek)
	if _, err := rand.Read(dek); err != nil {
		return "", nil, nil, fmt.Errorf("seal: data key: %w", err)
	}
	data, err := newGCM(dek)
	if err != nil {
		return "", nil, nil, fmt.Errorf("seal: %w", err)
	}
	ciphertext, err = sealWith(data, plain, credentialAAD(appID, credID, version))
	if err != nil {
		return "", nil, nil, fmt.Errorf("seal: %w", err)
	}
	wrapped, err = sealWith(k.keks[k.active], dek, dataKeyAAD(k.active, appID, credID))
	if err != nil {
		return "", nil, nil, fmt.Errorf("seal: wrap data key: %w", err)
	}
	return k.active, wrapped, ciphertext, nil
}

// Open decrypts c. It returns ErrKeyMissing when c.KEKID is not loaded and
// ErrDecrypt when any authenticated byte, or the row it is bound to, differs
// from what Seal produced; it never returns unauthenticated data.
func (k *Keyring) Open(c Credential) (Material, error) {
	dek, err := k.unwrap(c)
	if err != nil {
		return Material{}, err
	}
	defer clear(dek)
	data, err := newGCM(dek)
	if err != nil {
		return Material{}, fmt.Errorf("open credential %s: %w", c.ID, err)
	}
	plain, err := openWith(data, c.Ciphertext, credentialAAD(c.AppID, c.ID, c.Version))
	if err != nil {
		return Material{}, fmt.Errorf("open credential %s: ciphertext: %w", c.ID, err)
	}
	defer clear(plain)
	var m materialWire
	if err := json.Unmarshal(plain, &m); err != nil {
		// json errors can quote input bytes; report the fact only.
		return Material{}, fmt.Errorf("open credential %s: decoded material is malformed: %w", c.ID, ErrDecrypt)
	}
	return fromWire(m, c.Version), nil
}

// Rewrap re-wraps c's data key with the active KEK without touching the
// ciphertext, for KEK rotation. The caller stores the new KEK id and wrapped
// key on the same row and version.
func (k *Keyring) Rewrap(c Credential) (kekID string, wrapped []byte, err error) {
	dek, err := k.unwrap(c)
	if err != nil {
		return "", nil, err
	}
	defer clear(dek)
	wrapped, err = sealWith(k.keks[k.active], dek, dataKeyAAD(k.active, c.AppID, c.ID))
	if err != nil {
		return "", nil, fmt.Errorf("rewrap credential %s: %w", c.ID, err)
	}
	return k.active, wrapped, nil
}

func (k *Keyring) unwrap(c Credential) ([]byte, error) {
	kek, ok := k.keks[c.KEKID]
	if !ok {
		return nil, fmt.Errorf("credential %s needs KEK %q: %w", c.ID, truncate(c.KEKID, 64), ErrKeyMissing)
	}
	dek, err := openWith(kek, c.WrappedKey, dataKeyAAD(c.KEKID, c.AppID, c.ID))
	if err != nil {
		return nil, fmt.Errorf("open credential %s: data key: %w", c.ID, err)
	}
	if len(dek) != KEKSize {
		clear(dek)
		return nil, fmt.Errorf("open credential %s: data key size: %w", c.ID, ErrDecrypt)
	}
	return dek, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return aead, nil
}

// sealWith returns formatV1 || nonce || AES-GCM(plain, aad) with a random nonce.
// Random 96-bit nonces are safe here: every data key seals exactly one
// message, and a KEK wraps far fewer than 2^32 data keys.
func sealWith(aead cipher.AEAD, plain, aad []byte) ([]byte, error) {
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plain)+aead.Overhead())
	out[0] = formatV1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return aead.Seal(out, out[1:], plain, aad), nil
}

func openWith(aead cipher.AEAD, sealed, aad []byte) ([]byte, error) {
	n := aead.NonceSize()
	if len(sealed) < 1+n+aead.Overhead() || sealed[0] != formatV1 {
		return nil, ErrDecrypt
	}
	plain, err := aead.Open(nil, sealed[1:1+n], sealed[1+n:], aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return plain, nil
}

// credentialAAD binds a ciphertext to its row: label, app id, credential id
// (each length-prefixed, so no two tuples encode alike) and version.
func credentialAAD(appID, credID string, version int64) []byte {
	b := appendField(nil, aadCredential)
	b = appendField(b, appID)
	b = appendField(b, credID)
	return binary.BigEndian.AppendUint64(b, uint64(version))
}

// dataKeyAAD binds a wrapped data key to the KEK id and the row it belongs to.
func dataKeyAAD(kekID, appID, credID string) []byte {
	b := appendField(nil, aadDataKey)
	b = appendField(b, kekID)
	b = appendField(b, appID)
	return appendField(b, credID)
}

func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}
