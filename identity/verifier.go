package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

const (
	// fetchTimeout bounds one discovery or JWKS fetch, including a refetch
	// for an unknown key id (which holds up the request that caused it).
	fetchTimeout = 10 * time.Second
	// refreshInterval is the background JWKS refresh period; rotations are
	// picked up sooner through the unknown-kid refetch.
	refreshInterval = 15 * time.Minute
	// unknownKIDEvery is the minimum spacing of unknown-kid refetches. A
	// token with an invented kid beyond that budget fails at once with
	// ErrUnknownKey instead of waiting (the limiter's wait is bounded by
	// fetchTimeout, and a wait that would exceed it returns immediately).
	unknownKIDEvery = time.Minute
	// maxTokenLen bounds the token before any decoding.
	maxTokenLen = 16 << 10
)

// Verifier verifies tokens of one Provider. It is safe for concurrent use.
// The JWKS is cached and refreshed by keyfunc: every refreshInterval in the
// background, and on a token with an unknown kid (at most once per
// unknownKIDEvery).
type Verifier struct {
	p      Provider
	parser *jwt.Parser
	kf     keyfunc.Keyfunc
	keys   jwkset.Storage // the fetched JWKS itself; reading it never refetches
	state  *fetchState
	ctx    context.Context // lives until Close; ends the refresh goroutine
	cancel context.CancelFunc
	once   sync.Once
}

// Markers returned by keyFor and mapped by classify.
var (
	errKeyMissing   = errors.New("kid not in JWKS")
	errKeyUnusable  = errors.New("key not usable for this token")
	errHeaderFormat = errors.New("bad header")
)

// NewVerifier validates p, finds its JWKS (discovery when p.JWKSURL is
// empty) and fetches it through client (nil: a plain client with a
// timeout). ctx bounds this set-up only; the background refresh runs until
// Close. now is the clock for exp/nbf/iat (nil: time.Now). Errors wrap
// ErrConfig (bad Provider or discovery document) or ErrUnavailable
// (discovery or JWKS not reachable, or a JWKS without usable keys); the
// caller may retry the latter later.
func NewVerifier(ctx context.Context, p Provider, client *http.Client, now func() time.Time) (*Verifier, error) {
	return newVerifier(ctx, p, client, now, rate.NewLimiter(rate.Every(unknownKIDEvery), 1))
}

// newVerifier is NewVerifier with the unknown-kid refetch limiter given, so
// that tests can show recovery without waiting for the limiter.
func newVerifier(ctx context.Context, p Provider, client *http.Client, now func() time.Time, refetch *rate.Limiter) (*Verifier, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	p = p.withDefaults()
	if now == nil {
		now = time.Now
	}
	state := &fetchState{}
	hc := observedClient(client, state)

	// The lifetime context outlives ctx, but ctx cancels it while we set up.
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	fail := func(err error) (*Verifier, error) {
		cancel()
		return nil, err
	}

	jwksURL := p.JWKSURL
	if jwksURL == "" {
		u, err := discover(life, hc, p.Issuer)
		if err != nil {
			return fail(err)
		}
		jwksURL = u
	}
	keys, err := jwkset.NewStorageFromHTTP(jwksURL, jwkset.HTTPClientStorageOptions{
		Client:          hc,
		Ctx:             life,
		HTTPTimeout:     fetchTimeout,
		RefreshInterval: refreshInterval,
		// The transport records network and status failures; this catches
		// a 200 whose body is not a JWKS.
		RefreshErrorHandler: func(context.Context, error) { state.failed.Store(true) },
	})
	if err != nil {
		if errors.Is(err, ErrConfig) {
			return fail(fmt.Errorf("JWKS at %s: %w", jwksURL, err))
		}
		return fail(fmt.Errorf("%w: fetching JWKS from %s: %w", ErrUnavailable, jwksURL, err))
	}
	all, err := keys.KeyReadAll(life)
	if err != nil || len(all) == 0 {
		return fail(fmt.Errorf("%w: JWKS at %s has no usable keys", ErrUnavailable, jwksURL))
	}
	store, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs:          map[string]jwkset.Storage{jwksURL: keys},
		RateLimitWaitMax:  fetchTimeout,
		RefreshUnknownKID: refetch,
	})
	if err != nil {
		return fail(fmt.Errorf("%w: JWKS client: %w", ErrUnavailable, err))
	}
	kf, err := keyfunc.New(keyfunc.Options{
		Ctx:     life,
		Storage: store,
		// Keys marked for encryption never verify signatures.
		UseWhitelist: []jwkset.USE{jwkset.UseSig, ""},
	})
	if err != nil {
		return fail(fmt.Errorf("%w: keyfunc: %w", ErrUnavailable, err))
	}
	return &Verifier{
		p: p,
		parser: jwt.NewParser(
			jwt.WithValidMethods(p.Algorithms),
			jwt.WithIssuer(p.Issuer),
			jwt.WithAudience(p.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(p.Leeway),
			jwt.WithTimeFunc(now),
			jwt.WithJSONNumber(),
		),
		kf:     kf,
		keys:   keys,
		state:  state,
		ctx:    life,
		cancel: cancel,
	}, nil
}

// Close stops the background JWKS refresh. Verify keeps working on the
// cached keys but no longer refetches. Close is idempotent.
func (v *Verifier) Close() { v.once.Do(v.cancel) }

// Verify checks token and returns its user. The error wraps exactly one
// sentinel (ErrMalformed, ErrAlgorithm, ErrSignature, ErrUnknownKey,
// ErrUnavailable, ErrIssuer, ErrAudience, ErrExpired, ErrNotYetValid,
// ErrNoUser) and never contains the token.
func (v *Verifier) Verify(token string) (User, error) {
	switch {
	case token == "":
		return User{}, fmt.Errorf("%w: token is empty", ErrMalformed)
	case len(token) > maxTokenLen:
		return User{}, fmt.Errorf("%w: token is longer than %d bytes", ErrMalformed, maxTokenLen)
	}
	claims := jwt.MapClaims{}
	t, err := v.parser.ParseWithClaims(token, claims, v.keyFor)
	if err != nil {
		return User{}, v.classify(t, claims, err)
	}
	return userFromClaims(claims, v.p.UserClaim, v.p.GroupClaim)
}

// keyFor is the jwt.Keyfunc: it refuses critical header parameters (none
// are supported, RFC 7515 section 4.1.11) and tells a missing key from an
// unusable one.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, fmt.Errorf("%w: critical header parameters are not supported", errHeaderFormat)
	}
	kidAny, hasKID := t.Header[jwkset.HeaderKID]
	kid, isString := kidAny.(string)
	if hasKID && !isString {
		return nil, fmt.Errorf("%w: kid is not a string", errHeaderFormat)
	}
	key, err := v.kf.KeyfuncCtx(v.ctx)(t)
	if !hasKID {
		// keyfunc returns all keys; jwt tries each of them.
		if set, ok := key.(jwt.VerificationKeySet); err == nil && ok && len(set.Keys) == 0 {
			return nil, errKeyMissing
		}
	}
	if err == nil {
		return key, nil
	}
	if hasKID {
		// keyfunc has refetched (if the rate limit allowed); read the
		// cache without another fetch to see whether the kid exists.
		if _, rerr := v.keys.KeyRead(v.ctx, kid); errors.Is(rerr, jwkset.ErrKeyNotFound) {
			return nil, errKeyMissing
		}
	}
	return nil, errKeyUnusable
}

// classify maps a jwt parse error onto one sentinel with a safe detail.
// jwt's own messages are not passed on: they are safe, but they are not
// ours to promise.
func (v *Verifier) classify(t *jwt.Token, claims jwt.MapClaims, err error) error {
	if errors.Is(err, jwt.ErrTokenMalformed) {
		return fmt.Errorf("%w: not a signed JWT (compact serialization)", ErrMalformed)
	}
	if t != nil {
		alg, _ := t.Header["alg"].(string)
		if !slices.Contains(v.p.Algorithms, alg) {
			if alg == "" {
				return fmt.Errorf("%w: alg is missing", ErrAlgorithm)
			}
			return fmt.Errorf("%w: %q is not one of %v", ErrAlgorithm, alg, v.p.Algorithms)
		}
	}
	switch {
	case errors.Is(err, errHeaderFormat):
		return fmt.Errorf("%w: unsupported header", ErrMalformed)
	case errors.Is(err, errKeyMissing):
		if v.state.failed.Load() {
			return fmt.Errorf("%w: key id not cached and the JWKS could not be refetched", ErrUnavailable)
		}
		return fmt.Errorf("%w: key id is not in the provider's JWKS", ErrUnknownKey)
	case errors.Is(err, errKeyUnusable):
		return fmt.Errorf("%w: the provider's key for this key id does not allow this use or algorithm", ErrSignature)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fmt.Errorf("%w: signature does not verify", ErrSignature)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return fmt.Errorf("%w: want %q", ErrIssuer, v.p.Issuer)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return fmt.Errorf("%w: want %q", ErrAudience, v.p.Audience)
	case errors.Is(err, jwt.ErrTokenExpired):
		return fmt.Errorf("%w: exp is in the past", ErrExpired)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return fmt.Errorf("%w: nbf is in the future", ErrNotYetValid)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return fmt.Errorf("%w: iat is in the future", ErrNotYetValid)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		// jwt reports a missing iss or aud as "required claim missing".
		if iss, _ := claims["iss"].(string); iss == "" {
			return fmt.Errorf("%w: iss is missing", ErrIssuer)
		}
		if claims["exp"] == nil {
			return fmt.Errorf("%w: exp is missing", ErrMalformed)
		}
		return fmt.Errorf("%w: aud is missing or empty", ErrAudience)
	}
	// Wrong claim types (exp as a string, aud as a number) and anything
	// unforeseen: refuse.
	return fmt.Errorf("%w: claims could not be validated", ErrMalformed)
}
