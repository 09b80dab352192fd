package vault

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// Invalidation scopes: every cached row belongs to exactly one. Key rows
// are looked up by key id alone (the app is not known yet), so each key is
// its own scope; everything else belongs to its app's scope.
func keyScope(id string) string    { return "key:" + id }
func appScope(appID string) string { return "app:" + appID }

// Items within an app scope. The provider is length-prefixed so that no
// provider/principal pair can spell another's item.
func grantItem(id string) string { return "grant:" + id }
func grantsForItem(provider, principal string) string {
	return "grants:" + strconv.Itoa(len(provider)) + ":" + provider + ":" + principal
}
func delegatedItem(agentID, provider string) string {
	return "delegated:" + strconv.Itoa(len(agentID)) + ":" + agentID + ":" + provider
}
func credItem(id string) string  { return "cred:" + id }
func agentItem(id string) string { return "agent:" + id }

const appItem = "app"

// keyRow is a Key as cached in Redis. Key.Hash is hidden from JSON for the
// API's sake; the cache needs it to authenticate.
type keyRow struct {
	ID        string     `json:"id"`
	AppID     string     `json:"app_id"`
	AgentID   string     `json:"agent_id,omitempty"`
	Hash      []byte     `json:"hash"`
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

func keyToRow(k Key) keyRow { return keyRow(k) }
func rowToKey(r keyRow) Key { return Key(r) }

// credRow is a Credential as cached in Redis: exactly the stored row,
// ciphertext and wrapped data key included. It has no field for material,
// so decrypted material cannot end up in Redis by mistake.
type credRow struct {
	ID         string    `json:"id"`
	AppID      string    `json:"app_id"`
	ProviderID string    `json:"provider_id"`
	Kind       string    `json:"kind"`
	Version    int64     `json:"version"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	KEKID      string    `json:"kek_id"`
	WrappedKey []byte    `json:"wrapped_key"`
	Ciphertext []byte    `json:"ciphertext"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func credToRow(c Credential) credRow { return credRow(c) }
func rowToCred(r credRow) Credential { return Credential(r) }

// credentialExpiry is when a credential's material stops being valid
// (an OAuth access token's expiry), zero when unknown: its Redis entry
// must not outlive the token (boundTTL), so a replica never reads a token
// from Redis that the store has already replaced because it expired.
func credentialExpiry(c Credential) time.Time { return c.ExpiresAt }

func same[T any](t T) T { return t }

// rowSpec says where a row lives in Redis and how it is encoded.
type rowSpec[T, W any] struct {
	scope, item string
	toWire      func(T) W
	fromWire    func(W) T
	expires     func(T) time.Time // nil: no expiry
}

// macSize is the length of the HMAC-SHA256 tag in front of every value.
const macSize = sha256.Size

// redisMACKey derives the key that authenticates Redis values from the
// pepper every replica shares. Redis holds the rows that decide
// authentication (key hashes, grant statuses); the tag makes write access to
// Redis insufficient to mint a key, un-revoke a grant or move a row to
// another key or generation.
func redisMACKey(pepper []byte) []byte {
	m := hmac.New(sha256.New, pepper)
	m.Write([]byte("gatehouse redis cache v1"))
	return m.Sum(nil)
}

func (v *Vault) tag(s slot, body []byte) []byte {
	m := hmac.New(sha256.New, v.macKey)
	m.Write([]byte(s))
	m.Write([]byte{0})
	m.Write(body)
	return m.Sum(nil)
}

// seal returns tag || body for slot s.
func (v *Vault) seal(s slot, body []byte) []byte {
	return append(v.tag(s, body), body...)
}

// open checks the tag and returns the body; false for a forged, moved or
// corrupt value.
func (v *Vault) open(s slot, val []byte) ([]byte, bool) {
	if len(val) < macSize {
		return nil, false
	}
	body := val[macSize:]
	return body, hmac.Equal(val[:macSize], v.tag(s, body))
}

// readThrough loads one row for the in-process cache: from Redis when it
// has it (and skipRedis is false), else from the store, writing the row
// back to Redis. fromRedis says where the row came from. A Redis value that
// fails its tag or does not decode is treated as a miss.
func readThrough[T, W any](ctx context.Context, v *Vault, spec rowSpec[T, W], skipRedis bool, load func(context.Context) (T, error)) (t T, fromRedis bool, err error) {
	var s slot
	if v.redis != nil {
		var val []byte
		val, s = v.redis.get(ctx, spec.scope, spec.item)
		if body, ok := v.open(s, val); ok && !skipRedis {
			var w W
			if json.Unmarshal(body, &w) == nil {
				v.redis.hits.Add(1)
				v.noteFill()
				return spec.fromWire(w), true, nil
			}
		}
	}
	v.st.storeReads.Add(1)
	t, err = load(ctx)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			v.st.storeErrors.Add(1)
		}
		return t, false, err
	}
	v.noteFill()
	if s != "" {
		if body, err := json.Marshal(spec.toWire(t)); err == nil {
			ttl := v.redis.ttl
			if spec.expires != nil {
				ttl = boundTTL(ttl, v.now(), spec.expires(t))
			}
			v.redis.set(ctx, s, v.seal(s, body), ttl)
		}
	}
	return t, false, nil
}

// loadKey reads a key row by id.
func (v *Vault) loadKey(ctx context.Context, id string) (Key, error) {
	spec := rowSpec[Key, keyRow]{scope: keyScope(id), item: "row", toWire: keyToRow, fromWire: rowToKey}
	k, _, err := readThrough(ctx, v, spec, false, func(ctx context.Context) (Key, error) {
		return v.store.GetKey(ctx, id)
	})
	return k, err
}

// loadGrant reads one grant row.
func (v *Vault) loadGrant(ctx context.Context, appID, id string) (Grant, error) {
	spec := rowSpec[Grant, Grant]{scope: appScope(appID), item: grantItem(id), toWire: same[Grant], fromWire: same[Grant]}
	g, _, err := readThrough(ctx, v, spec, false, func(ctx context.Context) (Grant, error) {
		return v.store.GetGrant(ctx, appID, id)
	})
	return g, err
}

// loadGrantsFor reads the active grants of one provider and principal.
func (v *Vault) loadGrantsFor(ctx context.Context, appID, providerID, principal string) ([]Grant, error) {
	spec := rowSpec[[]Grant, []Grant]{
		scope: appScope(appID), item: grantsForItem(providerID, principal),
		toWire: same[[]Grant], fromWire: same[[]Grant],
	}
	gs, _, err := readThrough(ctx, v, spec, false, func(ctx context.Context) ([]Grant, error) {
		return v.store.ListGrants(ctx, appID, GrantFilter{ProviderID: providerID, Principal: principal, Status: StatusActive})
	})
	return gs, err
}

// loadDelegatedGrants reads the active grants of one provider delegated
// to one agent.
func (v *Vault) loadDelegatedGrants(ctx context.Context, appID, agentID, providerID string) ([]Grant, error) {
	spec := rowSpec[[]Grant, []Grant]{
		scope: appScope(appID), item: delegatedItem(agentID, providerID),
		toWire: same[[]Grant], fromWire: same[[]Grant],
	}
	gs, _, err := readThrough(ctx, v, spec, false, func(ctx context.Context) ([]Grant, error) {
		return v.store.DelegatedGrants(ctx, appID, agentID, providerID)
	})
	return gs, err
}

// loadMaterial reads a credential row and decrypts it. A row from Redis
// that does not open (sealed under a KEK this process no longer loads, after
// a rotation) is read again from the store, which has the rewrapped row.
func (v *Vault) loadMaterial(ctx context.Context, appID, credID string) (Material, error) {
	spec := rowSpec[Credential, credRow]{
		scope: appScope(appID), item: credItem(credID),
		toWire: credToRow, fromWire: rowToCred, expires: credentialExpiry,
	}
	load := func(ctx context.Context) (Credential, error) { return v.store.GetCredential(ctx, appID, credID) }
	c, fromRedis, err := readThrough(ctx, v, spec, false, load)
	if err != nil {
		return Material{}, err
	}
	m, err := v.keys.Open(c)
	if err != nil && fromRedis {
		if c, _, err = readThrough(ctx, v, spec, true, load); err != nil {
			return Material{}, err
		}
		m, err = v.keys.Open(c)
	}
	return m, err
}

// loadApp reads an app row.
func (v *Vault) loadApp(ctx context.Context, appID string) (App, error) {
	spec := rowSpec[App, App]{scope: appScope(appID), item: appItem, toWire: same[App], fromWire: same[App]}
	a, _, err := readThrough(ctx, v, spec, false, func(ctx context.Context) (App, error) {
		return v.store.GetApp(ctx, appID)
	})
	return a, err
}

// loadAgent reads an agent row.
func (v *Vault) loadAgent(ctx context.Context, appID, agentID string) (Agent, error) {
	spec := rowSpec[Agent, Agent]{scope: appScope(appID), item: agentItem(agentID), toWire: same[Agent], fromWire: same[Agent]}
	a, _, err := readThrough(ctx, v, spec, false, func(ctx context.Context) (Agent, error) {
		return v.store.GetAgent(ctx, appID, agentID)
	})
	return a, err
}
