package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// ErrNotConfigured is returned by Registry.Verify for an app without an
// identity provider.
var ErrNotConfigured = errors.New("the app has no identity provider")

// Lookup returns an app's identity provider and a version that changes
// whenever the provider is edited (its update time); ErrNotConfigured (or
// an error wrapping it) when the app has none.
type Lookup func(ctx context.Context, appID string) (Provider, time.Time, error)

// retryUnavailable is how long a Verifier that could not be built (its
// JWKS unreachable) is not tried again; calls meanwhile get ErrUnavailable
// at once instead of each waiting for the identity provider.
const retryUnavailable = 5 * time.Second

// Registry keeps one Verifier per app, built on first use from the app's
// stored provider and rebuilt when the provider changes. It is safe for
// concurrent use; concurrent first uses of an app share one build.
type Registry struct {
	lookup Lookup
	client *http.Client
	now    func() time.Time

	mu     sync.Mutex
	apps   map[string]*entry
	builds singleflight.Group
	closed bool
}

type entry struct {
	version time.Time
	v       *Verifier
	err     error     // build failure (ErrUnavailable), until retryAt
	retryAt time.Time // zero when v is set
}

// NewRegistry returns a Registry that fetches JWKS through client (the
// egress client) and checks token times against now (nil: time.Now).
func NewRegistry(lookup Lookup, client *http.Client, now func() time.Time) *Registry {
	if now == nil {
		now = time.Now
	}
	return &Registry{lookup: lookup, client: client, now: now, apps: make(map[string]*entry)}
}

// Verify verifies token against appID's identity provider. Errors wrap the
// package's sentinels, plus ErrNotConfigured.
func (r *Registry) Verify(ctx context.Context, appID, token string) (User, error) {
	p, version, err := r.lookup(ctx, appID)
	if err != nil {
		return User{}, err
	}
	v, err := r.verifier(ctx, appID, p, version)
	if err != nil {
		return User{}, err
	}
	return v.Verify(token)
}

// verifier returns the app's current Verifier, building it when missing
// or when the provider's version moved.
func (r *Registry) verifier(ctx context.Context, appID string, p Provider, version time.Time) (*Verifier, error) {
	r.mu.Lock()
	e, ok := r.apps[appID]
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("identity registry closed: %w", ErrUnavailable)
	}
	if ok && e.version.Equal(version) {
		if e.v != nil {
			return e.v, nil
		}
		if r.now().Before(e.retryAt) {
			return nil, e.err
		}
	}
	key := appID + "\x00" + version.UTC().Format(time.RFC3339Nano)
	res, err, _ := r.builds.Do(key, func() (any, error) {
		// The build outlives the request that started it: others wait on it.
		v, err := NewVerifier(context.WithoutCancel(ctx), p, r.client, r.now)
		r.store(appID, version, v, err)
		return v, err
	})
	if err != nil {
		return nil, err
	}
	return res.(*Verifier), nil
}

// store records a build's outcome and closes the Verifier it replaces (a
// request still holding it verifies with its cached keys).
func (r *Registry) store(appID string, version time.Time, v *Verifier, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		if v != nil {
			v.Close()
		}
		return
	}
	if old, ok := r.apps[appID]; ok && old.v != nil && old.v != v {
		old.v.Close()
	}
	e := &entry{version: version, v: v}
	if err != nil {
		e.v, e.err, e.retryAt = nil, err, r.now().Add(retryUnavailable)
	}
	r.apps[appID] = e
}

// Close stops every Verifier's background refresh.
func (r *Registry) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, e := range r.apps {
		if e.v != nil {
			e.v.Close()
		}
	}
	r.apps = map[string]*entry{}
}
