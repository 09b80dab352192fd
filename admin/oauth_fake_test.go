package admin

import (
	"context"
	"net/url"
	"slices"
	"sync"

	"github.com/gatehouse-dev/gatehouse/vault"
	"github.com/gatehouse-dev/gatehouse/vault/oauth"
)

// fakeOAuth is a test double of the OAuth manager for the admin routes'
// routing, validation and error mapping. Each method answers with the
// function set for it (or its zero answer) and records its input.
type fakeOAuth struct {
	mu sync.Mutex

	startFn    func(oauth.ConnectRequest) (oauth.ConnectStart, error)
	callbackFn func(url.Values) (vault.ConnectSession, error)
	sessionFn  func(appID, id string) (vault.ConnectSession, error)
	revokeFn   func(appID, grantID string) (oauth.RevokeResult, error)
	ccFn       func(appID, providerID, principal string, scopes []string) (vault.Grant, error)

	starts  []oauth.ConnectRequest
	revoked []string
	cc      []ccCall
}

// ccCall is one CreateClientCredentialsGrant call.
type ccCall struct {
	AppID, ProviderID, Principal string
	Scopes                       []string
}

var _ OAuth = (*fakeOAuth)(nil)

func (f *fakeOAuth) StartConnect(_ context.Context, req oauth.ConnectRequest) (oauth.ConnectStart, error) {
	f.mu.Lock()
	f.starts = append(f.starts, req)
	fn := f.startFn
	f.mu.Unlock()
	if fn == nil {
		return oauth.ConnectStart{}, nil
	}
	return fn(req)
}

func (f *fakeOAuth) Callback(_ context.Context, q url.Values) (vault.ConnectSession, error) {
	f.mu.Lock()
	fn := f.callbackFn
	f.mu.Unlock()
	if fn == nil {
		return vault.ConnectSession{}, oauth.ErrState
	}
	return fn(q)
}

func (f *fakeOAuth) Session(_ context.Context, appID, id string) (vault.ConnectSession, error) {
	f.mu.Lock()
	fn := f.sessionFn
	f.mu.Unlock()
	if fn == nil {
		return vault.ConnectSession{}, vault.ErrNotFound
	}
	return fn(appID, id)
}

func (f *fakeOAuth) Revoke(_ context.Context, appID, grantID string) (oauth.RevokeResult, error) {
	f.mu.Lock()
	f.revoked = append(f.revoked, grantID)
	fn := f.revokeFn
	f.mu.Unlock()
	if fn == nil {
		return oauth.RevokeResult{}, nil
	}
	return fn(appID, grantID)
}

func (f *fakeOAuth) CreateClientCredentialsGrant(_ context.Context, appID, providerID, principal string, scopes []string) (vault.Grant, error) {
	f.mu.Lock()
	f.cc = append(f.cc, ccCall{appID, providerID, principal, slices.Clone(scopes)})
	fn := f.ccFn
	f.mu.Unlock()
	if fn == nil {
		return vault.Grant{}, nil
	}
	return fn(appID, providerID, principal, scopes)
}

// set runs fn under the lock, to change the answers between subtests.
func (f *fakeOAuth) set(fn func(f *fakeOAuth)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// lastStart returns the last StartConnect request (zero when none).
func (f *fakeOAuth) lastStart() (oauth.ConnectRequest, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.starts) == 0 {
		return oauth.ConnectRequest{}, 0
	}
	return f.starts[len(f.starts)-1], len(f.starts)
}
