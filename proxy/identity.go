package proxy

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// Identity is the caller, fixed when the tunnel (or plain request) is
// authenticated and never re-read from bytes inside the tunnel. It is
// immutable: goproxy shares UserData between requests of a tunnel and, with
// HTTP/2, between concurrent streams.
type Identity struct {
	AppID      string
	KeyID      string
	AgentID    string // empty for an app key
	AgentName  string
	ClientAddr string
}

// Principal is the grant principal the caller acts as.
func (id Identity) Principal() string {
	if id.AgentID == "" {
		return "system"
	}
	return "agent:" + id.AgentName
}

// LogValue keeps identities compact in logs; nothing here is secret.
func (id Identity) LogValue() slog.Value {
	return slog.GroupValue(slog.String("app", id.AppID), slog.String("key_id", id.KeyID), slog.String("agent", id.AgentName))
}

// maxKeyLen bounds what we decode from Proxy-Authorization; real keys are
// under 100 bytes.
const maxKeyLen = 512

// keyFromProxyAuth extracts the caller key from a Proxy-Authorization value:
// "Basic base64(anything:KEY)" or "Bearer KEY". A malformed value is
// key_invalid; a missing one is proxy_auth_required.
func keyFromProxyAuth(v string) (string, *Denial) {
	if v == "" {
		return "", deny(CodeProxyAuthRequired, "proxy authentication is required: send Proxy-Authorization with a Gatehouse key")
	}
	scheme, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	rest = strings.TrimSpace(rest)
	if !ok || rest == "" || len(rest) > maxKeyLen*2 {
		return "", deny(CodeKeyInvalid, "the Proxy-Authorization header is malformed")
	}
	switch strings.ToLower(scheme) {
	case "bearer":
		return rest, nil
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return "", deny(CodeKeyInvalid, "the Proxy-Authorization header is not valid base64")
		}
		_, key, found := strings.Cut(string(raw), ":")
		if !found || key == "" {
			return "", deny(CodeKeyInvalid, "the Proxy-Authorization Basic credentials carry no key: use anything:KEY")
		}
		return key, nil
	default:
		return "", deny(CodeKeyInvalid, "the Proxy-Authorization scheme must be Basic or Bearer")
	}
}

// authenticate resolves the caller of a request carrying Proxy-Authorization.
func (s *Server) authenticate(ctx context.Context, r *http.Request) (Identity, *Denial) {
	key, d := keyFromProxyAuth(r.Header.Get("Proxy-Authorization"))
	if d != nil {
		return Identity{}, d
	}
	if len(key) > maxKeyLen {
		return Identity{}, deny(CodeKeyInvalid, "the proxy key is not valid")
	}
	k, err := s.vault.Authenticate(ctx, key)
	if err != nil {
		return Identity{}, denialFor(err)
	}
	id := Identity{AppID: k.AppID, KeyID: k.ID, AgentID: k.AgentID, ClientAddr: r.RemoteAddr}
	if k.AgentID != "" {
		ag, err := s.vault.Agent(ctx, k.AppID, k.AgentID)
		if errors.Is(err, vault.ErrNotFound) {
			// An agent deleted under a live key: the key is no longer usable.
			return Identity{}, denialFor(vault.ErrKeyRevoked)
		}
		if err != nil {
			return Identity{}, denialFor(err)
		}
		id.AgentName = ag.Name
	}
	return id, nil
}
