package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
)

// maxDocumentSize bounds the discovery document and the JWKS: both are a
// few kilobytes, and the IdP is outside our trust boundary.
const maxDocumentSize = 1 << 20

// fetchState remembers whether the last fetch from the IdP failed, so that
// a token whose key is missing can be told apart from an IdP we cannot
// reach (ErrUnknownKey vs ErrUnavailable).
type fetchState struct{ failed atomic.Bool }

// observedTransport wraps the injected client's transport: it records the
// outcome of each fetch and caps response bodies at maxDocumentSize.
type observedTransport struct {
	base  http.RoundTripper
	state *fetchState
}

// RoundTrip implements http.RoundTripper.
func (t observedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		t.state.failed.Store(true)
		return nil, err
	}
	t.state.failed.Store(resp.StatusCode < 200 || resp.StatusCode > 299)
	resp.Body = &cappedBody{ReadCloser: resp.Body, left: maxDocumentSize, state: t.state}
	return resp, nil
}

// cappedBody fails a read past its limit instead of truncating silently.
type cappedBody struct {
	io.ReadCloser
	left  int64
	state *fetchState
}

// errTooLarge is returned when a document exceeds maxDocumentSize.
var errTooLarge = fmt.Errorf("response is larger than %d bytes", maxDocumentSize)

// Read implements io.Reader.
func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Probe for one more byte: exactly maxDocumentSize bytes is fine.
		var one [1]byte
		if n, _ := b.ReadCloser.Read(one[:]); n > 0 {
			b.state.failed.Store(true)
			return 0, errTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// observedClient returns a copy of client (nil → a client with a timeout)
// whose transport is observed and whose redirects stay on https.
func observedClient(client *http.Client, state *fetchState) *http.Client {
	var c http.Client
	if client != nil {
		c = *client
	} else {
		c.Timeout = fetchTimeout
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = observedTransport{base: base, state: state}
	next := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return fmt.Errorf("%w: redirect to a non-https URL", ErrConfig)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		return nil
	}
	return &c
}

// discoveryDocument holds the fields of an OpenID Provider Metadata
// document that we use.
type discoveryDocument struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

// discover fetches issuer's OpenID configuration and returns its jwks_uri.
// The document must name the configured issuer exactly (OpenID Connect
// Discovery 1.0, section 4.3) and its jwks_uri must be https.
func discover(ctx context.Context, client *http.Client, issuer string) (string, error) {
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("%w: discovery URL %s: %w", ErrConfig, u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, ErrConfig) {
			return "", fmt.Errorf("discovery at %s: %w", u, err)
		}
		return "", fmt.Errorf("%w: discovery at %s: %w", ErrUnavailable, u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%w: discovery at %s answered %d", ErrUnavailable, u, resp.StatusCode)
	}
	var doc discoveryDocument
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return "", fmt.Errorf("%w: discovery document at %s is not valid JSON: %w", ErrUnavailable, u, err)
	}
	if doc.Issuer != issuer {
		return "", fmt.Errorf("%w: discovery document names issuer %q, configured issuer is %q", ErrConfig, doc.Issuer, issuer)
	}
	if doc.JWKSURI == "" {
		return "", fmt.Errorf("%w: discovery document at %s has no jwks_uri", ErrConfig, u)
	}
	if err := checkHTTPS(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("%w: discovery jwks_uri: %v", ErrConfig, err)
	}
	return doc.JWKSURI, nil
}
