package proxy

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/vault"
)

// ExplainRequest describes a call to explain: who would make it and what.
type ExplainRequest struct {
	AppID   string
	AgentID string // empty: the app's own key
	Method  string
	URL     string // https://host[:port]/path
	GrantID string // as Gatehouse-Grant
	UserJWT string // as Gatehouse-User
	Account string // as Gatehouse-Account
	Source  string // client address ip[:port]; empty: unknown
}

// Explanation is what the proxy would decide for a call, without making it.
type Explanation struct {
	Provider string         `json:"provider,omitempty"`
	Grant    *vault.Grant   `json:"grant,omitempty"`
	Refusal  map[string]any `json:"refusal,omitempty"` // the error body the caller would get
	Decision *ExplainedRule `json:"decision,omitempty"`
	Matches  []ExplainMatch `json:"matches"`
}

// ExplainedRule is the policy decision in JSON form.
type ExplainedRule struct {
	Allowed   bool     `json:"allowed"`
	Effect    string   `json:"effect,omitempty"`
	Rule      string   `json:"rule,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	Code      string   `json:"code,omitempty"`
	WouldDeny []string `json:"would_deny,omitempty"`
}

// ExplainMatch is one rule that matched.
type ExplainMatch struct {
	Rule   string   `json:"rule"`
	Effect string   `json:"effect"`
	File   string   `json:"file,omitempty"`
	Line   int      `json:"line,omitempty"`
	Why    []string `json:"why,omitempty"`
	Error  string   `json:"error,omitempty"`
}

// Explain runs grant resolution, entitlement and the policy for req the
// way a call would, without calling anything upstream, refreshing a token
// or consuming a rate-limit token (gatehouse policy explain). An invalid
// request is an error; a call that would be refused is an Explanation with
// Refusal set.
func (s *Server) Explain(ctx context.Context, req ExplainRequest) (Explanation, error) {
	out := Explanation{Matches: []ExplainMatch{}}
	u, err := url.Parse(req.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return out, fmt.Errorf("url must be an absolute https:// URL: %w", vault.ErrInvalid)
	}
	a, err := parseAuthority(u.Host, 443)
	if err != nil {
		return out, fmt.Errorf("url has a malformed host: %w", vault.ErrInvalid)
	}
	id := Identity{AppID: req.AppID, AgentID: req.AgentID, ClientAddr: req.Source}
	if req.AgentID != "" {
		ag, err := s.vault.Agent(ctx, req.AppID, req.AgentID)
		if err != nil {
			return out, fmt.Errorf("agent: %w", err)
		}
		id.AgentName = ag.Name
	}
	refuse := func(d *Denial) (Explanation, error) {
		out.Refusal = d.fields("") // the body the caller would get, without a request id
		out.Refusal["status"] = d.Status()
		return out, nil
	}
	p, ok := s.catalog.Lookup(a.Host, a.Port)
	if !ok {
		return refuse(deny(CodeEgressDenied, a.Host+" is not a provider host; only the app's egress allowlist could tunnel to it, without a credential"))
	}
	out.Provider = p.ID
	r := &http.Request{Method: req.Method, URL: u, Host: u.Host, Header: http.Header{}}
	for h, v := range map[string]string{"Gatehouse-Grant": req.GrantID, "Gatehouse-User": req.UserJWT, "Gatehouse-Account": req.Account} {
		if v != "" {
			r.Header.Set(h, v)
		}
	}
	t := &tunnel{id: id, authority: a, provider: p, absoluteForm: true}
	g, d := s.resolveGrant(ctx, r, t)
	if d != nil {
		return refuse(d)
	}
	out.Grant = &g
	if d := s.entitled(ctx, id, g, p); d != nil {
		return refuse(d)
	}
	if s.policy == nil {
		out.Decision = &ExplainedRule{Allowed: true, Reason: "no policy is configured: the entitlement decides"}
		return out, nil
	}
	dec, matches := s.policy.Explain(ctx, policyInput(t, r, g, s.now()))
	out.Decision = &ExplainedRule{Allowed: dec.Allowed, Effect: string(dec.Effect), Rule: dec.Rule, Reason: dec.Reason, Code: dec.Code, WouldDeny: dec.WouldDeny}
	for _, m := range matches {
		out.Matches = append(out.Matches, ExplainMatch{Rule: m.Rule, Effect: string(m.Effect), File: m.File, Line: m.Line, Why: m.Why, Error: m.Error})
	}
	if !dec.Allowed {
		return refuse(policyDenial(dec))
	}
	return out, nil
}
