package identity

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
)

// sentinels lists every error Verify may wrap, to check that exactly one is.
var sentinels = []error{
	ErrMalformed, ErrSignature, ErrAlgorithm, ErrExpired, ErrNotYetValid,
	ErrIssuer, ErrAudience, ErrUnknownKey, ErrNoUser, ErrUnavailable, ErrConfig,
}

// checkErr fails unless err wraps want and no other sentinel (want nil: no
// error), and unless its message leaves out the token.
func checkErr(t *testing.T, err, want error, token string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want errors.Is %v", err, want)
	}
	for _, s := range sentinels {
		if s != want && errors.Is(err, s) {
			t.Errorf("err = %v also matches %v", err, s)
		}
	}
	if token == "" {
		return
	}
	for _, part := range strings.Split(token, ".") {
		if len(part) > 8 && strings.Contains(err.Error(), part) {
			t.Errorf("error message contains part of the token: %v", err)
		}
	}
}

func TestVerify(t *testing.T) {
	rsa1, ec1 := rsaKey(t, "rsa-1"), ecKey(t, "ec-1")
	enc := rsaKey(t, "enc-1")
	enc.use = "enc"
	p := newIdP(t, rsa1, ec1, enc)
	v := p.verifier(t, p.provider())

	// A key the IdP never published, under a kid it did publish.
	impostor := rsaKey(t, "rsa-1")
	pubDER, err := x509.MarshalPKIXPublicKey(rsa1.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	alice := User{ID: "alice"}
	tests := []struct {
		name    string
		token   func() string
		want    User
		wantErr error
	}{
		{"rsa valid", func() string { return rsa1.sign(t, p.claims(nil), nil) }, alice, nil},
		{"ecdsa valid", func() string { return ec1.sign(t, p.claims(nil), nil) }, alice, nil},
		{"no kid tries every key", func() string {
			return ec1.sign(t, p.claims(nil), map[string]any{"kid": nil})
		}, alice, nil},
		{"audience among several", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"aud": []string{"other", testAudience}}), nil)
		}, alice, nil},
		{"exp within leeway", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"exp": t0.Add(-29 * time.Second).Unix()}), nil)
		}, alice, nil},
		{"nbf within leeway", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"nbf": t0.Add(29 * time.Second).Unix()}), nil)
		}, alice, nil},
		{"numeric user id", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"sub": 1234567890123}), nil)
		}, User{ID: "1234567890123"}, nil},

		{"wrong signature", func() string { return impostor.sign(t, p.claims(nil), nil) }, User{}, ErrSignature},
		{"payload swapped after signing", func() string {
			good := strings.Split(rsa1.sign(t, p.claims(nil), nil), ".")
			evil := strings.Split(rsa1.sign(t, p.claims(jwt.MapClaims{"sub": "mallory"}), nil), ".")
			return good[0] + "." + evil[1] + "." + good[2]
		}, User{}, ErrSignature},
		{"no kid, unknown key", func() string {
			return impostor.sign(t, p.claims(nil), map[string]any{"kid": nil})
		}, User{}, ErrSignature},
		{"alg none", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodNone, p.claims(nil))
			tok.Header["kid"] = "rsa-1"
			s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, User{}, ErrAlgorithm},
		{"HS256 keyed with the public key", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, p.claims(nil))
			tok.Header["kid"] = "rsa-1"
			s, err := tok.SignedString(pubPEM)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, User{}, ErrAlgorithm},
		{"RS384 not in allowlist", func() string {
			k := rsa1
			k.method = jwt.SigningMethodRS384
			return k.sign(t, p.claims(nil), nil)
		}, User{}, ErrAlgorithm},
		{"alg missing", func() string {
			return rsa1.sign(t, p.claims(nil), map[string]any{"alg": nil})
		}, User{}, ErrAlgorithm},
		{"ES256 under an RS256 kid", func() string {
			return ec1.sign(t, p.claims(nil), map[string]any{"kid": "rsa-1"})
		}, User{}, ErrSignature},
		{"encryption key", func() string { return enc.sign(t, p.claims(nil), nil) }, User{}, ErrSignature},
		{"unknown kid", func() string {
			return rsaKey(t, "rsa-unknown").sign(t, p.claims(nil), nil)
		}, User{}, ErrUnknownKey},

		{"expired", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"exp": t0.Add(-31 * time.Second).Unix()}), nil)
		}, User{}, ErrExpired},
		{"not yet valid", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"nbf": t0.Add(31 * time.Second).Unix()}), nil)
		}, User{}, ErrNotYetValid},
		{"issued in the future", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"iat": t0.Add(31 * time.Second).Unix()}), nil)
		}, User{}, ErrNotYetValid},
		{"exp missing", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"exp": nil}), nil)
		}, User{}, ErrMalformed},
		{"exp not a number", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"exp": "tomorrow"}), nil)
		}, User{}, ErrMalformed},
		{"wrong audience", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"aud": "someone-else"}), nil)
		}, User{}, ErrAudience},
		{"audience missing", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"aud": nil}), nil)
		}, User{}, ErrAudience},
		{"audience empty list", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"aud": []string{}}), nil)
		}, User{}, ErrAudience},
		{"wrong issuer", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"iss": "https://evil.example"}), nil)
		}, User{}, ErrIssuer},
		{"issuer with extra slash", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"iss": p.srv.URL + "/"}), nil)
		}, User{}, ErrIssuer},
		{"issuer missing", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"iss": nil}), nil)
		}, User{}, ErrIssuer},
		{"user claim missing", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"sub": nil}), nil)
		}, User{}, ErrNoUser},
		{"user id empty", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"sub": ""}), nil)
		}, User{}, ErrNoUser},
		{"user id upper case is not folded", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"sub": "Alice"}), nil)
		}, User{}, ErrNoUser},
		{"user id with a pipe", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"sub": "auth0|5f7c"}), nil)
		}, User{}, ErrNoUser},
		{"user id not a string", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"sub": []string{"alice"}}), nil)
		}, User{}, ErrNoUser},
		{"user id fractional", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"sub": 1.5}), nil)
		}, User{}, ErrNoUser},
		{"critical header", func() string {
			return rsa1.sign(t, p.claims(nil), map[string]any{"crit": []string{"exp"}})
		}, User{}, ErrMalformed},
		{"kid not a string", func() string {
			return rsa1.sign(t, p.claims(nil), map[string]any{"kid": 7})
		}, User{}, ErrMalformed},
		{"empty", func() string { return "" }, User{}, ErrMalformed},
		{"two segments", func() string { return "abc.def" }, User{}, ErrMalformed},
		{"garbage segments", func() string { return "!!!.???.###" }, User{}, ErrMalformed},
		{"header not JSON", func() string {
			return base64.RawURLEncoding.EncodeToString([]byte("nope")) + ".e30.c2ln"
		}, User{}, ErrMalformed},
		{"too long", func() string {
			return rsa1.sign(t, p.claims(jwt.MapClaims{"pad": strings.Repeat("x", maxTokenLen)}), nil)
		}, User{}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := tt.token()
			got, err := v.Verify(token)
			checkErr(t, err, tt.wantErr, token)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Verify() user (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifyClaims(t *testing.T) {
	k := rsaKey(t, "k1")
	p := newIdP(t, k)
	tests := []struct {
		name    string
		prov    func(Provider) Provider
		claims  jwt.MapClaims
		want    User
		wantErr error
	}{
		{"groups as array", withGroups, jwt.MapClaims{"groups": []string{"eng", "ops"}},
			User{ID: "alice", Groups: []string{"eng", "ops"}}, nil},
		{"groups as string", withGroups, jwt.MapClaims{"groups": "eng"},
			User{ID: "alice", Groups: []string{"eng"}}, nil},
		{"groups deduplicated, empty dropped", withGroups, jwt.MapClaims{"groups": []string{"eng", "", "ops", "eng"}},
			User{ID: "alice", Groups: []string{"eng", "ops"}}, nil},
		{"group names kept verbatim", withGroups, jwt.MapClaims{"groups": []string{"Platform Team", "a/b"}},
			User{ID: "alice", Groups: []string{"Platform Team", "a/b"}}, nil},
		{"groups missing", withGroups, nil, User{ID: "alice"}, nil},
		{"groups empty array", withGroups, jwt.MapClaims{"groups": []string{}}, User{ID: "alice"}, nil},
		{"groups ignored without group claim", nil, jwt.MapClaims{"groups": []string{"eng"}}, User{ID: "alice"}, nil},
		{"groups a number", withGroups, jwt.MapClaims{"groups": 3}, User{}, ErrMalformed},
		{"groups with a non-string", withGroups, jwt.MapClaims{"groups": []any{"eng", 3}}, User{}, ErrMalformed},
		{"groups an object", withGroups, jwt.MapClaims{"groups": map[string]any{"eng": true}}, User{}, ErrMalformed},
		{"custom user claim", func(pr Provider) Provider { pr.UserClaim = "preferred_username"; return pr },
			jwt.MapClaims{"preferred_username": "bob.smith"}, User{ID: "bob.smith"}, nil},
		{"custom user claim missing", func(pr Provider) Provider { pr.UserClaim = "preferred_username"; return pr },
			nil, User{}, ErrNoUser},
		{"custom user claim e-mail refused", func(pr Provider) Provider { pr.UserClaim = "email"; return pr },
			jwt.MapClaims{"email": "bob@example.com"}, User{}, ErrNoUser},
		{"leeway 1ns: exp a second ago is expired", func(pr Provider) Provider { pr.Leeway = time.Nanosecond; return pr },
			jwt.MapClaims{"exp": t0.Add(-time.Second).Unix()}, User{}, ErrExpired},
		{"allowlist of RS384 only refuses RS256", func(pr Provider) Provider { pr.Algorithms = []string{"RS384"}; return pr },
			nil, User{}, ErrAlgorithm}, // token is RS256
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prov := p.provider()
			if tt.prov != nil {
				prov = tt.prov(prov)
			}
			v := p.verifier(t, prov)
			token := k.sign(t, p.claims(tt.claims), nil)
			got, err := v.Verify(token)
			checkErr(t, err, tt.wantErr, token)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Verify() user (-want +got):\n%s", diff)
			}
		})
	}
}

func withGroups(p Provider) Provider { p.GroupClaim = "groups"; return p }

func TestPrincipal(t *testing.T) {
	tests := []struct {
		id      string
		want    string
		wantErr error
	}{
		{"alice", "user:alice", nil},
		{"248289761001", "user:248289761001", nil},
		{"9b2c1f0e-7d3a-4a51-8f7e-2c1d0b9a8e7f", "user:9b2c1f0e-7d3a-4a51-8f7e-2c1d0b9a8e7f", nil},
		{"a.b_c-d", "user:a.b_c-d", nil},
		{strings.Repeat("a", 63), "user:" + strings.Repeat("a", 63), nil},
		{strings.Repeat("a", 64), "", ErrNoUser},
		{"", "", ErrNoUser},
		{"Alice", "", ErrNoUser},
		{"-alice", "", ErrNoUser},
		{".alice", "", ErrNoUser},
		{"auth0|5f7c8ec7c33c6c004bbafe82", "", ErrNoUser},
		{"alice@example.com", "", ErrNoUser},
		{"al ice", "", ErrNoUser},
		{"älice", "", ErrNoUser},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			got, err := Principal(tt.id)
			checkErr(t, err, tt.wantErr, "")
			if got != tt.want {
				t.Errorf("Principal(%q) = %q, want %q", tt.id, got, tt.want)
			}
			if tt.wantErr == nil {
				if u := (User{ID: tt.id}); u.Principal() != tt.want {
					t.Errorf("User.Principal() = %q, want %q", u.Principal(), tt.want)
				}
			}
		})
	}
}
