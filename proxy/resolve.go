package proxy

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// uuidLen is the length of a canonical UUID, the grant id format.
const uuidLen = 36

// resolveGrant finds the grant for a request, first match wins (DESIGN.md
// request flow step 5): a placeholder, Gatehouse-Grant, Gatehouse-User
// (identity provider: a later issue), the calling agent's own grant, the
// app's system grant. Ambiguity is an error listing the candidates.
func (s *Server) resolveGrant(ctx context.Context, r *http.Request, t *tunnel) (vault.Grant, *Denial) {
	ids, d := placeholders(r, t.provider.Inject.Query)
	if d != nil {
		return vault.Grant{}, d
	}
	switch {
	case len(ids) > 1:
		return vault.Grant{}, ambiguous("the request carries placeholders for several grants", ids)
	case len(ids) == 1:
		return s.explicitGrant(ctx, t, ids[0])
	}
	if v := strings.TrimSpace(r.Header.Get("Gatehouse-Grant")); v != "" {
		id := strings.TrimPrefix(v, vault.GrantPlaceholderPrefix)
		if _, ok := vault.ParseGrantPlaceholder(vault.GrantPlaceholderPrefix + id); !ok {
			return vault.Grant{}, deny(CodeGrantNotFound, "Gatehouse-Grant is not a valid grant id")
		}
		return s.explicitGrant(ctx, t, id)
	}
	if r.Header.Get("Gatehouse-User") != "" {
		return s.userGrant(ctx, r, t)
	}
	principals := []string{vault.PrincipalSystem}
	if t.id.AgentID != "" {
		g, found, d := s.agentGrant(ctx, t)
		if found || d != nil {
			return g, d
		}
		principals = append(principals, t.id.Principal())
	}
	g, found, d := s.onlyGrant(ctx, t, vault.PrincipalSystem)
	if found || d != nil {
		return g, d
	}
	return vault.Grant{}, s.noGrant(ctx, t, principals)
}

// agentGrant returns the calling agent's single active grant for the
// tunnel's provider, its own or delegated to it (request flow step 5.4).
func (s *Server) agentGrant(ctx context.Context, t *tunnel) (vault.Grant, bool, *Denial) {
	own, err := s.vault.GrantsFor(ctx, t.id.AppID, t.provider.ID, t.id.Principal())
	if err != nil {
		return vault.Grant{}, false, denialFor(err)
	}
	delegated, err := s.vault.DelegatedGrants(ctx, t.id.AppID, t.id.AgentID, t.provider.ID)
	if err != nil {
		return vault.Grant{}, false, denialFor(err)
	}
	gs := own
	for _, g := range delegated {
		if !slices.ContainsFunc(gs, func(o vault.Grant) bool { return o.ID == g.ID }) {
			gs = append(gs, g)
		}
	}
	return single(gs, "agent "+t.id.AgentName+" has several grants for provider "+t.provider.ID+": pick one with Gatehouse-Grant")
}

// noGrant explains why implicit resolution found nothing. When the grant
// the caller would have used is waiting for its user to connect again, the
// caller learns that (reauth_required with the connect URL) rather than a
// bare grant_not_found. Only refused calls pay for this store read.
func (s *Server) noGrant(ctx context.Context, t *tunnel, principals []string) *Denial {
	for _, p := range principals {
		gs, err := s.vault.Store().ListGrants(ctx, t.id.AppID, vault.GrantFilter{ProviderID: t.provider.ID, Principal: p, Status: vault.StatusNeedsReauth})
		if err != nil {
			return denialFor(err)
		}
		if len(gs) == 1 {
			return s.reauthDenial(gs[0])
		}
	}
	return deny(CodeGrantNotFound, "no grant for provider "+t.provider.ID+" is available to this caller")
}

// onlyGrant returns the single active grant of principal for the tunnel's
// provider; found is false when there is none.
func (s *Server) onlyGrant(ctx context.Context, t *tunnel, principal string) (vault.Grant, bool, *Denial) {
	gs, err := s.vault.GrantsFor(ctx, t.id.AppID, t.provider.ID, principal)
	if err != nil {
		return vault.Grant{}, false, denialFor(err)
	}
	return single(gs, "principal "+principal+" has several grants for provider "+t.provider.ID+": pick one with Gatehouse-Grant")
}

// single returns the only grant of gs; found is false for none, and
// several are grant_ambiguous with ambiguousMsg and the candidates.
func single(gs []vault.Grant, ambiguousMsg string) (vault.Grant, bool, *Denial) {
	switch len(gs) {
	case 0:
		return vault.Grant{}, false, nil
	case 1:
		return gs[0], true, nil
	}
	ids := make([]string, len(gs))
	for i, g := range gs {
		ids[i] = g.ID
	}
	return vault.Grant{}, true, ambiguous(ambiguousMsg, ids)
}

// explicitGrant loads a grant named by the caller. A grant of another app
// answers exactly like a missing one (security invariant 8).
func (s *Server) explicitGrant(ctx context.Context, t *tunnel, id string) (vault.Grant, *Denial) {
	g, err := s.vault.Grant(ctx, t.id.AppID, id)
	if errors.Is(err, vault.ErrNotFound) {
		return vault.Grant{}, deny(CodeGrantNotFound, "grant "+id+" does not exist")
	}
	if err != nil {
		return vault.Grant{}, denialFor(err)
	}
	details := map[string]any{"grant_id": g.ID}
	switch g.Status {
	case vault.StatusActive:
		return g, nil
	case vault.StatusRevoked:
		return g, &Denial{Code: CodeGrantRevoked, Message: "grant " + g.ID + " has been revoked", Details: details}
	case vault.StatusExpired:
		return g, &Denial{Code: CodeGrantExpired, Message: "grant " + g.ID + " has expired", Details: details}
	case vault.StatusNeedsReauth:
		return g, s.reauthDenial(g)
	}
	return g, &Denial{Code: CodeGrantRevoked, Message: "grant " + g.ID + " is not active", Details: details}
}

func ambiguous(msg string, ids []string) *Denial {
	slices.Sort(ids)
	return &Denial{Code: CodeGrantAmbiguous, Message: msg, Details: map[string]any{"candidates": ids}}
}

// placeholders collects the distinct grant ids named by placeholders in
// header values and, for providers that inject into the query, in query
// values. A placeholder prefix followed by anything but a UUID is refused
// like an unknown grant.
func placeholders(r *http.Request, queryParam string) ([]string, *Denial) {
	var ids []string
	add := func(v string) *Denial {
		for {
			i := strings.Index(v, vault.GrantPlaceholderPrefix)
			if i < 0 {
				return nil
			}
			v = v[i+len(vault.GrantPlaceholderPrefix):]
			if len(v) < uuidLen {
				return deny(CodeGrantNotFound, "a grant placeholder does not carry a valid grant id")
			}
			id := strings.ToLower(v[:uuidLen])
			if _, ok := vault.ParseGrantPlaceholder(vault.GrantPlaceholderPrefix + id); !ok {
				return deny(CodeGrantNotFound, "a grant placeholder does not carry a valid grant id")
			}
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
			v = v[uuidLen:]
		}
	}
	for name, vs := range r.Header {
		if isIdentityHeader(name) {
			continue
		}
		for _, v := range vs {
			if d := add(v); d != nil {
				return nil, d
			}
		}
	}
	if queryParam != "" && strings.Contains(r.URL.RawQuery, vault.GrantPlaceholderPrefix) {
		for _, v := range r.URL.Query()[queryParam] {
			if d := add(v); d != nil {
				return nil, d
			}
		}
	}
	return ids, nil
}

// isIdentityHeader reports headers meant for the proxy only.
func isIdentityHeader(name string) bool {
	return strings.HasPrefix(name, "Gatehouse-") || name == "Proxy-Authorization" || name == "Proxy-Connection"
}
