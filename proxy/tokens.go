package proxy

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// Tokens turns a resolved grant into the material to inject. For OAuth
// grants it owns refresh: Token never returns an expired access token, and
// Refresh renews one the upstream rejected with 401 unless the stored
// version already moved past staleVersion. *oauth.Manager implements it.
type Tokens interface {
	Token(ctx context.Context, g vault.Grant) (vault.Material, error)
	Refresh(ctx context.Context, g vault.Grant, staleVersion int64) (vault.Material, error)
	// ReconnectURL is where the grant's user can connect again; it goes
	// into the reauth_required error body.
	ReconnectURL(g vault.Grant) string
}
