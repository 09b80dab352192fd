// Package identity verifies end-user JWTs from an app's identity provider
// (the Gatehouse-User header) and turns them into a User: a stable user id
// for the principal "user:<id>" and the user's IdP groups.
//
// One Verifier serves one Provider. It finds the provider's JWKS (configured,
// or discovered from the issuer's /.well-known/openid-configuration), fetches
// it through the HTTP client Gatehouse gives it (the hardened egress client),
// keeps it fresh with keyfunc/jwkset, and refetches it when a token names an
// unknown key id, rate limited so that tokens with invented key ids cannot
// turn the proxy into a load generator against the IdP.
//
// Verification is fail closed: only asymmetric algorithms from the
// provider's allowlist (default RS256 and ES256; "none" and HS* are refused
// outright, which rules out key confusion), exp required, nbf and iat
// checked with a small leeway, exact issuer, the configured audience. Every
// failure maps to one of the sentinel errors below (use errors.Is); messages
// are safe to show to the caller and never contain the token.
//
// User ids and principals: the id (claim Provider.UserClaim, default "sub")
// must already satisfy the vault name rule [a-z0-9][a-z0-9._-]{0,62}; it is
// used verbatim as "user:<id>". Anything else is refused with ErrNoUser. Ids
// are deliberately not lower-cased or otherwise mapped: OIDC subjects are
// case sensitive, so folding "Ab" and "ab" into one principal would let one
// user reach another user's grants. See Principal.
package identity
