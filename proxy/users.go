package proxy

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/identity"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// Users verifies end-user JWTs (Gatehouse-User) against the calling app's
// identity provider. *identity.Registry implements it.
type Users interface {
	Verify(ctx context.Context, appID, token string) (identity.User, error)
}

// userGrant is resolution step 5.3: the Gatehouse-User JWT names a user of
// the app's identity provider, and the grant is that user's for the
// tunnel's provider — bound to the user or to one of the user's IdP
// groups. Gatehouse-Account picks one when there are several; otherwise
// several are grant_ambiguous. Entitlement is checked after, as for every
// grant: an agent reaches a user's grant only through a delegation or its
// access set.
func (s *Server) userGrant(ctx context.Context, r *http.Request, t *tunnel) (vault.Grant, *Denial) {
	if s.users == nil {
		return vault.Grant{}, deny(CodeGrantNotFound, "Gatehouse-User identity resolution is not configured for this app")
	}
	u, err := s.users.Verify(ctx, t.id.AppID, strings.TrimSpace(r.Header.Get("Gatehouse-User")))
	if err != nil {
		return vault.Grant{}, userDenial(err)
	}
	if err := s.vault.SeeUser(ctx, t.id.AppID, u.ID, u.Groups); err != nil {
		s.log.Warn("user not recorded", "app_id", t.id.AppID, "err", err)
	}
	principals := []string{u.Principal()}
	for _, g := range u.Groups {
		if p := vault.PrincipalGroupPrefix + g; vault.ValidatePrincipal(p) == nil {
			principals = append(principals, p)
		}
	}
	var gs []vault.Grant
	for _, p := range principals {
		pg, err := s.vault.GrantsFor(ctx, t.id.AppID, t.provider.ID, p)
		if err != nil {
			return vault.Grant{}, denialFor(err)
		}
		gs = append(gs, pg...)
	}
	if account := strings.TrimSpace(r.Header.Get("Gatehouse-Account")); account != "" {
		gs = slices.DeleteFunc(gs, func(g vault.Grant) bool { return g.Account != account })
		if len(gs) == 0 {
			return vault.Grant{}, deny(CodeGrantNotFound, "user "+u.ID+" has no grant for provider "+t.provider.ID+" with account "+account)
		}
	}
	g, found, d := single(gs, "user "+u.ID+" has several grants for provider "+t.provider.ID+": pick one with Gatehouse-Account or Gatehouse-Grant")
	switch {
	case d != nil:
		return vault.Grant{}, d
	case !found:
		return vault.Grant{}, s.noGrant(ctx, t, principals[:1])
	}
	return g, nil
}

// userDenial maps a Gatehouse-User verification failure. The message names
// what was wrong (expired, wrong audience…) and never the token.
func userDenial(err error) *Denial {
	switch {
	case errors.Is(err, identity.ErrNotConfigured), errors.Is(err, vault.ErrNotFound):
		return &Denial{Code: CodeGrantNotFound, Message: "Gatehouse-User identity resolution is not configured for this app", Internal: err}
	case errors.Is(err, identity.ErrUnavailable):
		return &Denial{Code: CodeIdentityUnavailable, Message: "the identity provider's keys cannot be fetched; retry later", Internal: err}
	}
	for _, e := range []error{
		identity.ErrMalformed, identity.ErrSignature, identity.ErrAlgorithm, identity.ErrExpired,
		identity.ErrNotYetValid, identity.ErrIssuer, identity.ErrAudience, identity.ErrUnknownKey, identity.ErrNoUser,
	} {
		if errors.Is(err, e) {
			return &Denial{Code: CodeUserInvalid, Message: "Gatehouse-User: " + e.Error(), Internal: err}
		}
	}
	return denialFor(err)
}
