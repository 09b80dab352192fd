package identity

import "errors"

// Sentinel errors. Verify and NewVerifier wrap exactly one of them (test with
// errors.Is); the wrapped message adds a detail that is safe to show and
// never contains the token.
var (
	// ErrMalformed: not a compact JWS, bad encoding, wrong claim types, a
	// missing exp claim, or unsupported critical header parameters.
	ErrMalformed = errors.New("user token is malformed")
	// ErrSignature: the signature does not verify with the provider's key.
	ErrSignature = errors.New("user token signature is invalid")
	// ErrAlgorithm: the token's alg is not in the provider's allowlist
	// (always the case for "none" and HS*).
	ErrAlgorithm = errors.New("user token algorithm is not allowed")
	// ErrExpired: exp is in the past (beyond the leeway).
	ErrExpired = errors.New("user token has expired")
	// ErrNotYetValid: nbf or iat is in the future (beyond the leeway).
	ErrNotYetValid = errors.New("user token is not valid yet")
	// ErrIssuer: iss is missing or differs from the provider's issuer.
	ErrIssuer = errors.New("user token issuer is wrong")
	// ErrAudience: aud is missing or does not contain the provider's audience.
	ErrAudience = errors.New("user token audience is wrong")
	// ErrUnknownKey: the key id is not in the JWKS, even after a refetch.
	ErrUnknownKey = errors.New("user token signing key is unknown")
	// ErrNoUser: the user claim is missing, not a string, or not a valid
	// principal id (see Principal).
	ErrNoUser = errors.New("user token names no valid user")
	// ErrUnavailable: the JWKS (or the discovery document) could not be
	// fetched; the token was not judged.
	ErrUnavailable = errors.New("identity provider keys are unavailable")
	// ErrConfig: the Provider is invalid, or the discovery document
	// contradicts it (other issuer, non-https jwks_uri).
	ErrConfig = errors.New("identity provider configuration is invalid")
)
