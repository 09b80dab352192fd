package proxy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// Error codes: stable API (DESIGN.md "Error contract"). bad_request is our
// addition for input that is not a valid proxy request at all (malformed
// CONNECT authority, request to the proxy that is not a proxy request).
const (
	CodeBadRequest          = "bad_request"
	CodeProxyAuthRequired   = "proxy_auth_required"
	CodeKeyInvalid          = "key_invalid"
	CodeKeyRevoked          = "key_revoked"
	CodeEgressDenied        = "egress_denied"
	CodeGrantNotFound       = "grant_not_found"
	CodeGrantRevoked        = "grant_revoked"
	CodeGrantExpired        = "grant_expired"
	CodeNotEntitled         = "not_entitled"
	CodePolicyDenied        = "policy_denied"
	CodePlaintextRefused    = "plaintext_refused"
	CodeHostMismatch        = "host_mismatch"
	CodeReauthRequired      = "reauth_required"
	CodeGrantAmbiguous      = "grant_ambiguous"
	CodeRateLimited         = "rate_limited"
	CodeUpstreamUnreachable = "upstream_unreachable"
	CodeUpstreamTLSFailed   = "upstream_tls_failed"
	CodeAuditUnavailable    = "audit_unavailable"
	CodeVaultUnavailable    = "vault_unavailable"
	// Issue 5 additions: a Gatehouse-User JWT that does not verify, and an
	// identity provider whose keys cannot be fetched.
	CodeUserInvalid         = "user_invalid"
	CodeIdentityUnavailable = "identity_unavailable"
)

// statusOf maps every code to its HTTP status, in one table.
var statusOf = map[string]int{
	CodeBadRequest:          http.StatusBadRequest,
	CodeProxyAuthRequired:   http.StatusProxyAuthRequired,
	CodeKeyInvalid:          http.StatusProxyAuthRequired,
	CodeKeyRevoked:          http.StatusProxyAuthRequired,
	CodeEgressDenied:        http.StatusForbidden,
	CodeGrantNotFound:       http.StatusForbidden,
	CodeGrantRevoked:        http.StatusForbidden,
	CodeGrantExpired:        http.StatusForbidden,
	CodeNotEntitled:         http.StatusForbidden,
	CodePolicyDenied:        http.StatusForbidden,
	CodePlaintextRefused:    http.StatusForbidden,
	CodeHostMismatch:        http.StatusForbidden,
	CodeReauthRequired:      http.StatusForbidden,
	CodeGrantAmbiguous:      http.StatusConflict,
	CodeRateLimited:         http.StatusTooManyRequests,
	CodeUpstreamUnreachable: http.StatusBadGateway,
	CodeUpstreamTLSFailed:   http.StatusBadGateway,
	CodeAuditUnavailable:    http.StatusServiceUnavailable,
	CodeVaultUnavailable:    http.StatusServiceUnavailable,
	CodeUserInvalid:         http.StatusForbidden,
	CodeIdentityUnavailable: http.StatusServiceUnavailable,
}

// Denial is a typed refusal: a stable code, a message that is safe to show
// (never a secret, never internal error text) and optional details that go
// into the JSON body (candidates, grant_id, rule…). Internal carries the
// underlying error for logs only.
type Denial struct {
	Code     string
	Message  string
	Details  map[string]any
	Internal error
}

func (d *Denial) Error() string { return d.Code + ": " + d.Message }

// Unwrap exposes the internal cause to errors.Is / errors.As.
func (d *Denial) Unwrap() error { return d.Internal }

// Status is the HTTP status of the denial.
func (d *Denial) Status() int {
	if s, ok := statusOf[d.Code]; ok {
		return s
	}
	return http.StatusForbidden
}

func deny(code, msg string) *Denial { return &Denial{Code: code, Message: msg} }

// denialFor turns an error of the vault (key lookup, grants, credentials)
// into a Denial. It and upstreamDenial are the only places where internal
// errors are mapped to codes. The source decides the code, not the error's
// shape: a database connection reset must read vault_unavailable, never
// upstream_unreachable. Anything unrecognised fails closed as
// vault_unavailable (security invariant 9).
func denialFor(err error) *Denial {
	var d *Denial
	switch {
	case errors.As(err, &d):
		return d
	case errors.Is(err, vault.ErrKeyRevoked):
		return &Denial{Code: CodeKeyRevoked, Message: "the proxy key has been revoked", Internal: err}
	case errors.Is(err, vault.ErrKeyInvalid), errors.Is(err, vault.ErrInvalid):
		return &Denial{Code: CodeKeyInvalid, Message: "the proxy key is not valid", Internal: err}
	default:
		return &Denial{Code: CodeVaultUnavailable, Message: "the credential vault is unavailable", Internal: err}
	}
}

// upstreamDenial turns an error of the upstream leg (guarded dial, TLS,
// round trip) into a Denial.
func upstreamDenial(err error) *Denial {
	switch {
	case errors.Is(err, errEgressForbidden):
		return &Denial{Code: CodeEgressDenied, Message: "the destination address is not allowed", Internal: err}
	case isTLSError(err):
		return &Denial{Code: CodeUpstreamTLSFailed, Message: "the upstream TLS certificate could not be verified", Internal: err}
	default:
		return &Denial{Code: CodeUpstreamUnreachable, Message: "the upstream could not be reached", Internal: err}
	}
}

func isTLSError(err error) bool {
	var (
		unknown   x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		recordHdr tls.RecordHeaderError
		alert     tls.AlertError
	)
	return errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &verify) || errors.As(err, &recordHdr) || errors.As(err, &alert)
}

// errorBody is the JSON shape of every refusal.
type errorBody struct {
	Error map[string]any `json:"error"`
}

// fields are the members of the body's "error" object: code, message,
// request_id (when given) and the details, which never override those.
func (d *Denial) fields(requestID string) map[string]any {
	fields := map[string]any{"code": d.Code, "message": d.Message}
	if requestID != "" {
		fields["request_id"] = requestID
	}
	for k, v := range d.Details {
		if _, taken := fields[k]; !taken {
			fields[k] = v
		}
	}
	return fields
}

// encode renders the JSON body of a denial.
func (d *Denial) encode(requestID string) []byte {
	b, err := json.Marshal(errorBody{Error: d.fields(requestID)})
	if err != nil { // details are ours and always marshal; keep a fallback anyway
		b = []byte(`{"error":{"code":"` + d.Code + `"}}`)
	}
	return append(b, '\n')
}

// header returns the response header of a denial.
func (d *Denial) header(requestID string, bodyLen int) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Gatehouse-Error", d.Code)
	h.Set(headerRequestID, requestID)
	h.Set("Content-Length", strconv.Itoa(bodyLen))
	h.Set("Cache-Control", "no-store")
	if d.Status() == http.StatusProxyAuthRequired {
		h.Set("Proxy-Authenticate", `Basic realm="gatehouse"`)
	}
	if ra, ok := d.Details["retry_after"]; ok {
		h.Set("Retry-After", strconv.Itoa(toInt(ra)))
	}
	return h
}

func toInt(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int64:
		return int(n)
	case float64:
		return int(n)
	}
	return 0
}

// response builds the *http.Response goproxy writes for a denial. It is the
// single builder of refusal responses, for CONNECT, MITM and plain requests.
func (d *Denial) response(req *http.Request, requestID string) *http.Response {
	body := d.encode(requestID)
	return &http.Response{
		Status:        strconv.Itoa(d.Status()) + " " + http.StatusText(d.Status()),
		StatusCode:    d.Status(),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        d.header(requestID, len(body)),
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// writeTo writes the denial on a raw connection (goproxy's
// ConnectionErrHandler gives us an io.Writer, not a ResponseWriter).
func (d *Denial) writeTo(w io.Writer, requestID string) error {
	resp := d.response(nil, requestID)
	resp.Close = true
	return resp.Write(w)
}
