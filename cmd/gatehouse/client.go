package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxResponseBytes bounds an admin API answer the CLI reads.
const maxResponseBytes = 64 << 20

// client talks to the admin API.
type client struct {
	base  string // "http://127.0.0.1:8081", no trailing slash
	token string
	http  *http.Client
}

func newClient(base, token string) *client {
	return &client{
		base:  strings.TrimRight(base, "/"),
		token: token,
		http:  &http.Client{Timeout: 60 * time.Second},
	}
}

// do sends method path (query included) with body marshalled as JSON (nil
// for none) and returns the raw JSON answer of a 2xx response. Any other
// status becomes a *cliError carrying the API's code and message.
func (c *client) do(ctx context.Context, method, path string, body any) (json.RawMessage, error) {
	if body == nil {
		return c.send(ctx, method, path, "", nil)
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return c.send(ctx, method, path, "application/json", data)
}

// send is do with a body already encoded as contentType (nil body: none).
func (c *client) send(ctx context.Context, method, path, contentType string, body []byte) (json.RawMessage, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, &cliError{Code: codeUsage, Message: fmt.Sprintf("bad server URL %q", c.base)}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &cliError{Code: codeError, Message: fmt.Sprintf(
			"cannot reach the admin API at %s (is `gatehouse serve` running? set --server or GATEHOUSE_SERVER): %v", c.base, unwrapURLError(err))}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("read answer from %s: %w", c.base, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if !json.Valid(raw) {
			return nil, &cliError{Code: codeInternal, Message: fmt.Sprintf("the admin API at %s sent a non-JSON answer", c.base)}
		}
		return raw, nil
	}
	var envelope struct {
		Error *cliError `json:"error"`
	}
	if json.Unmarshal(raw, &envelope) == nil && envelope.Error != nil && envelope.Error.Code != "" {
		return nil, envelope.Error
	}
	return nil, &cliError{Code: codeForStatus(resp.StatusCode),
		Message: fmt.Sprintf("the admin API at %s answered %s", c.base, resp.Status)}
}

// codeForStatus guesses an error code for a non-JSON error answer (for
// example from a reverse proxy in front of the admin API).
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return codeInvalidRequest
	case http.StatusUnauthorized, http.StatusForbidden:
		return codeUnauthorized
	case http.StatusNotFound:
		return codeNotFound
	case http.StatusConflict:
		return codeConflict
	}
	return codeInternal
}

// unwrapURLError drops net/http's "Get \"url\": " prefix.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// appPath is "/v1/apps/<app>" + the escaped segments.
func appPath(app string, segments ...string) string {
	p := "/v1/apps/" + url.PathEscape(app)
	for _, s := range segments {
		p += "/" + url.PathEscape(s)
	}
	return p
}
