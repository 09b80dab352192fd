package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/internal/fakeupstream"
)

// TestServeResolvesGatehouseUser runs a JWT through the real wiring: the
// app's identity provider set with the CLI, its JWKS fetched through the
// egress transport, and the user's grant injected.
func TestServeResolvesGatehouseUser(t *testing.T) {
	clearGatehouseEnv(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	up := fakeupstream.Start(t, "api.openai.com", "idp.example.com")
	up.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host == "idp.example.com" && r.URL.Path == "/jwks" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(jwks)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := testConfig(t, dataDir)
	cfg.Upstream.Resolve = map[string]string{"api.openai.com:443": up.Addr(), "idp.example.com:443": up.Addr()}
	cfg.Upstream.ExtraRoots = []string{up.CAFile}
	s, _ := startServer(t, cfg)
	base := []string{"--data-dir", dataDir, "--server", s.adminURL()}
	cmd := func(args ...string) []string { return append(append([]string{}, base...), args...) }

	ghJSON(t, 0, nil, "", cmd("app", "create", "demo")...)
	var appKey keyAnswer
	ghJSON(t, 0, &appKey, "", cmd("key", "create", "--app", "demo")...)
	ghJSON(t, 0, nil, "sk-alice\n", cmd("secret", "put", "--app", "demo", "--provider", "openai", "--principal", "user:alice")...)
	ghJSON(t, 0, nil, "", cmd("idp", "set", "--app", "demo", "--issuer", "https://idp.example.com", "--audience", "gatehouse",
		"--jwks-url", "https://idp.example.com/jwks")...)

	caPEM, err := os.ReadFile(caCertPath(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	proxyURL := &url.URL{Scheme: "http", Host: s.proxyLn.Addr().String(), User: url.UserPassword("x", appKey.Plaintext)}
	tr := &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: roots}}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	sign := func(claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
		tok.Header["kid"] = "k1"
		signed, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	now := time.Now()
	valid := jwt.MapClaims{"iss": "https://idp.example.com", "aud": "gatehouse", "sub": "alice", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
	wrongAud := jwt.MapClaims{"iss": "https://idp.example.com", "aud": "other", "sub": "alice", "exp": now.Add(time.Hour).Unix()}

	type outcome struct {
		Status int
		Code   string
		Auth   string // Authorization the upstream received
	}
	tests := []struct {
		name  string
		token string
		want  outcome
	}{
		{"valid token uses the user's grant", sign(valid), outcome{Status: http.StatusOK, Auth: "Bearer sk-alice"}},
		{"wrong audience", sign(wrongAud), outcome{Status: http.StatusForbidden, Code: "user_invalid"}},
		{"not a JWT", "nope", outcome{Status: http.StatusForbidden, Code: "user_invalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := up.Count()
			req, err := http.NewRequestWithContext(t.Context(), "GET", "https://api.openai.com/v1/models", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Gatehouse-User", tt.token)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got := outcome{Status: resp.StatusCode}
			if resp.StatusCode >= 400 {
				var body struct {
					Error struct {
						Code string `json:"code"`
					} `json:"error"`
				}
				if err := json.Unmarshal(raw, &body); err != nil {
					t.Fatalf("body %q: %v", raw, err)
				}
				got.Code = body.Error.Code
			}
			if up.Count() > before {
				last := up.Last(t)
				if last.Host == "api.openai.com" {
					got.Auth = last.Header.Get("Authorization")
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
