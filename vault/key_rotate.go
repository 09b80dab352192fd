package vault

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RotateKey issues a new key for the same app or agent as keyID and marks
// keyID deprecated: it keeps authenticating until now+grace (vault clock),
// then counts as revoked. grace 0 revokes it at once; a negative grace is
// ErrInvalid. keyID must be an active key of the app (ErrNotFound for a
// missing key or one of another app, ErrConflict for a revoked or already
// deprecated one, so of two concurrent rotations one wins). The old key is
// invalidated everywhere. It returns the new plaintext key, shown once,
// and its stored form. When the old key cannot be deprecated the new key
// is revoked again (it was never shown) and the error returned.
func (v *Vault) RotateKey(ctx context.Context, appID, keyID string, grace time.Duration) (string, Key, error) {
	const op = "rotate key"
	if grace < 0 {
		return "", Key{}, fmt.Errorf("%s: grace period %v is negative: %w", op, grace, ErrInvalid)
	}
	old, err := v.store.GetKey(ctx, keyID)
	switch {
	case err != nil:
		return "", Key{}, fmt.Errorf("%s: %w", op, err)
	case old.AppID != appID:
		return "", Key{}, fmt.Errorf("%s: %w", op, ErrNotFound)
	case old.Status != KeyActive:
		return "", Key{}, fmt.Errorf("%s: key is %s: %w", op, old.Status, ErrConflict)
	}
	plaintext, nk, err := v.IssueKey(ctx, appID, old.AgentID)
	if err != nil {
		return "", Key{}, fmt.Errorf("%s: %w", op, err)
	}
	now := v.stamp()
	// Deprecate first even without a grace period: DeprecateKey fences on
	// the key being active, RevokeKey would not.
	err = v.store.DeprecateKey(ctx, appID, keyID, now.Add(grace))
	if err == nil && grace == 0 {
		err = v.store.RevokeKey(ctx, appID, keyID)
	}
	if mayHaveCommitted(err) {
		v.invalidate(ctx, keyScope(keyID))
	}
	if err != nil {
		rerr := v.store.RevokeKey(context.WithoutCancel(ctx), appID, nk.ID)
		return "", Key{}, fmt.Errorf("%s: %w", op, errors.Join(err, rerr))
	}
	return plaintext, nk, nil
}

// keyUsable reports whether k may authenticate now: active, or deprecated
// and within its grace period on the vault clock.
func (v *Vault) keyUsable(k Key) bool {
	switch k.Status {
	case KeyActive:
		return true
	case KeyDeprecated:
		return k.ExpiresAt != nil && v.now().Before(*k.ExpiresAt)
	}
	return false
}
