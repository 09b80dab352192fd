package proxy

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// TestDenialMapping: the source of an error decides its code. A database
// connection that resets looks like a network error, but coming from the
// vault it must read vault_unavailable, never upstream_unreachable.
func TestDenialMapping(t *testing.T) {
	netErr := &net.OpError{Op: "read", Net: "tcp", Err: io.ErrUnexpectedEOF}
	tests := []struct {
		name     string
		err      error
		upstream bool
		want     string
	}{
		{"vault: key revoked", fmt.Errorf("x: %w", vault.ErrKeyRevoked), false, CodeKeyRevoked},
		{"vault: key invalid", vault.ErrKeyInvalid, false, CodeKeyInvalid},
		{"vault: connection reset", fmt.Errorf("get key: %w", netErr), false, CodeVaultUnavailable},
		{"vault: unexpected EOF", io.ErrUnexpectedEOF, false, CodeVaultUnavailable},
		{"vault: deadline", context.DeadlineExceeded, false, CodeVaultUnavailable},
		{"vault: missing KEK", vault.ErrKeyMissing, false, CodeVaultUnavailable},
		{"vault: a denial passes through", deny(CodeGrantRevoked, "x"), false, CodeGrantRevoked},
		{"upstream: forbidden address", fmt.Errorf("dial: %w", errEgressForbidden), true, CodeEgressDenied},
		{"upstream: unknown authority", x509.UnknownAuthorityError{}, true, CodeUpstreamTLSFailed},
		{"upstream: connection refused", netErr, true, CodeUpstreamUnreachable},
		{"upstream: anything else", errors.New("boom"), true, CodeUpstreamUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := denialFor(tt.err)
			if tt.upstream {
				d = upstreamDenial(tt.err)
			}
			if d.Code != tt.want {
				t.Errorf("code %s, want %s", d.Code, tt.want)
			}
		})
	}
}
