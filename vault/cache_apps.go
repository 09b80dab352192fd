package vault

import (
	"context"
	"fmt"
	"slices"
)

// App returns the app, cached like grants: the proxy reads it (egress
// allowlist) on every CONNECT. Writes to the app must go through the Vault
// (SetAppEgress) to be seen before the cache expires.
func (v *Vault) App(ctx context.Context, appID string) (App, error) {
	k := appKey{epoch: v.epochs.get(appID), app: appID}
	a, err := v.apps.get(ctx, k, func(ctx context.Context) (App, error) {
		return v.loadApp(ctx, appID)
	})
	if err != nil {
		return App{}, fmt.Errorf("app: %w", err)
	}
	a.EgressAllow = slices.Clone(a.EgressAllow)
	return a, nil
}

// Agent returns the app's agent, cached: the proxy resolves an agent key's
// name on every CONNECT. DeleteAgent invalidates it.
func (v *Vault) Agent(ctx context.Context, appID, agentID string) (Agent, error) {
	k := agentKey{epoch: v.epochs.get(appID), app: appID, id: agentID}
	a, err := v.agents.get(ctx, k, func(ctx context.Context) (Agent, error) {
		return v.loadAgent(ctx, appID, agentID)
	})
	if err != nil {
		return Agent{}, fmt.Errorf("agent: %w", err)
	}
	return a, nil
}

// SetAppEgress replaces the app's egress allowlist (Store.SetAppEgress)
// and invalidates the cached app everywhere. Hosts are validated by the
// caller.
func (v *Vault) SetAppEgress(ctx context.Context, appID string, hosts []string) error {
	err := v.store.SetAppEgress(ctx, appID, hosts)
	v.invalidate(ctx, appScope(appID))
	if err != nil {
		return fmt.Errorf("set app egress: %w", err)
	}
	return nil
}
