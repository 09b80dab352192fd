// Package admin is Gatehouse's control-plane HTTP handler: liveness and
// readiness probes, the /v1 REST API the CLI talks to (apps, agents, caller
// keys and their rotation, managed secrets, grants, delegations, agent
// access sets, audit events, providers and their per-app OAuth clients, the
// OAuth connect flow, identity providers, app policies and their
// explanation) and the OAuth redirect endpoint /oauth/callback. The API is authenticated with the
// admin bearer token; the callback is authenticated by its single-use
// state. Every mutating call records an admin audit event.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/catalog"
	"github.com/gatehouse-dev/gatehouse/vault"
)

// Actor is the audit actor of every call authenticated with the admin token.
const Actor = "admin-token"

// MaxBodyBytes caps a request body.
const MaxBodyBytes = 1 << 20

// readyTimeout bounds the store ping behind /readyz.
const readyTimeout = 2 * time.Second

// Recorder accepts audit events without blocking; *audit.Writer is one.
// Flush waits until what was recorded so far is stored, so an audit listing
// shows the calls that happened just before it.
type Recorder interface {
	Record(e audit.Event) error
	Flush(ctx context.Context) error
}

// Deps is what the handler needs. All fields are required except OAuth,
// Explain, PolicyStatus and Log.
type Deps struct {
	// Token is the admin bearer token. It is hashed at construction and
	// compared in constant time.
	Token   string
	Vault   *vault.Vault
	Catalog *catalog.Catalog
	// Audit records the admin events of mutating calls.
	Audit Recorder
	// Events answers GET /v1/apps/{app}/audit.
	Events audit.Store
	// OAuth runs the connect flow, client-credentials grants and
	// provider-side revocation (*oauth.Manager). Nil: the OAuth routes
	// answer 501 and an OAuth grant's revocation stays local.
	OAuth OAuth
	// Explain answers POST /v1/apps/{app}/policy/explain (*proxy.Server).
	// Nil: that route answers 501.
	Explain Explainer
	// PolicyStatus reports the last policy load (nil: it succeeded), shown
	// in /readyz; a failed reload keeps the last good policy, so it never
	// makes the replica unready. Nil: not shown.
	PolicyStatus func() error
	// Metrics, when set, is served at GET /metrics without the admin
	// token (Prometheus scrapes it; no label carries a secret or an id).
	Metrics http.Handler
	// Log receives request and failure logs; never secrets. Default: discard.
	Log *slog.Logger
}

// api holds the handler state shared by the route handlers.
type api struct {
	tokenHash [sha256.Size]byte
	vault     *vault.Vault
	store     vault.Store
	catalog   *catalog.Catalog
	audit     Recorder
	events    audit.Store
	oauth     OAuth
	explain   Explainer
	policyErr func() error
	log       *slog.Logger

	callbackPage *template.Template
}

// New returns the admin listener's handler.
func New(d Deps) (http.Handler, error) {
	switch {
	case d.Token == "":
		return nil, errors.New("admin: empty admin token")
	case d.Vault == nil, d.Catalog == nil, d.Audit == nil, d.Events == nil:
		return nil, errors.New("admin: Vault, Catalog, Audit and Events are required")
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	page, err := parseCallbackTemplate()
	if err != nil {
		return nil, fmt.Errorf("admin: callback page: %w", err)
	}
	a := &api{
		callbackPage: page,
		tokenHash:    sha256.Sum256([]byte(d.Token)),
		vault:        d.Vault,
		store:        d.Vault.Store(),
		catalog:      d.Catalog,
		audit:        d.Audit,
		events:       d.Events,
		oauth:        d.OAuth,
		explain:      d.Explain,
		policyErr:    d.PolicyStatus,
		log:          log,
	}
	v1 := http.NewServeMux()
	a.routes(v1)

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", a.healthz)
	root.HandleFunc("GET /readyz", a.readyz)
	root.HandleFunc("GET /oauth/callback", a.callback) // no admin token: the state authenticates
	if d.Metrics != nil {
		root.Handle("GET /metrics", d.Metrics)
	}
	root.Handle("/v1/", a.authenticate(unmatchedAsJSON(v1)))
	root.Handle("/", unmatchedAsJSON(http.NewServeMux()))
	return a.logRequests(root), nil
}

// routes registers the /v1 API. The handlers live in one file per resource.
func (a *api) routes(mux *http.ServeMux) {
	h := func(pattern string, fn handlerFunc) { mux.Handle(pattern, a.wrap(fn)) }

	h("POST /v1/apps", a.createApp)
	h("GET /v1/apps", a.listApps)
	h("GET /v1/apps/{app}", a.getApp)
	h("PUT /v1/apps/{app}/egress", a.setEgress)

	h("POST /v1/apps/{app}/agents", a.createAgent)
	h("GET /v1/apps/{app}/agents", a.listAgents)
	h("DELETE /v1/apps/{app}/agents/{agent}", a.deleteAgent)

	h("POST /v1/apps/{app}/keys", a.createKey)
	h("GET /v1/apps/{app}/keys", a.listKeys)
	h("DELETE /v1/apps/{app}/keys/{key}", a.revokeKey)
	h("POST /v1/apps/{app}/keys/{key}/rotate", a.rotateKey)

	h("POST /v1/apps/{app}/agents/{agent}/access", a.addAccess)
	h("GET /v1/apps/{app}/agents/{agent}/access", a.listAccess)
	h("DELETE /v1/apps/{app}/agents/{agent}/access/{id}", a.removeAccess)
	h("GET /v1/apps/{app}/access", a.listAppAccess)

	h("PUT /v1/apps/{app}/identity", a.setIdentity)
	h("GET /v1/apps/{app}/identity", a.getIdentity)
	h("DELETE /v1/apps/{app}/identity", a.removeIdentity)

	h("PUT /v1/apps/{app}/policy", a.putPolicy)
	h("GET /v1/apps/{app}/policy", a.getPolicy)
	h("DELETE /v1/apps/{app}/policy", a.deletePolicy)
	h("POST /v1/apps/{app}/policy/explain", a.explainPolicy)

	h("POST /v1/apps/{app}/secrets", a.putSecret)
	h("PUT /v1/apps/{app}/secrets/{grant}", a.rotateSecret)
	h("DELETE /v1/apps/{app}/secrets/{grant}", a.deleteSecret)

	h("GET /v1/apps/{app}/grants", a.listGrants)
	h("POST /v1/apps/{app}/grants", a.createGrant)
	h("POST /v1/apps/{app}/grants/{grant}/revoke", a.revokeGrant)

	h("POST /v1/apps/{app}/grants/{grant}/delegations", a.createDelegation)
	h("GET /v1/apps/{app}/delegations", a.listDelegations)
	h("DELETE /v1/apps/{app}/delegations/{id}", a.deleteDelegation)

	h("PUT /v1/apps/{app}/providers/{provider}", a.configureProvider)
	h("GET /v1/apps/{app}/providers", a.listProviderSettings)
	h("GET /v1/apps/{app}/providers/{provider}", a.getProviderSettings)
	h("DELETE /v1/apps/{app}/providers/{provider}", a.unconfigureProvider)

	h("GET /v1/connect/sessions/{id}", a.connectSession)
	h("GET /v1/connect/{provider}", a.startConnect)

	h("GET /v1/apps/{app}/audit", a.listAudit)

	h("GET /v1/providers", a.listProviders)
}

// handlerFunc is a route handler that reports failure by returning an error,
// so that writeError is the only place errors become responses.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (a *api) wrap(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			a.writeError(w, r, err)
		}
	})
}

// authenticate requires "Authorization: Bearer <admin token>". Both sides
// are hashed first so the comparison is constant-time regardless of length.
func (a *api) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		presented := sha256.Sum256([]byte(strings.TrimSpace(token)))
		valid := subtle.ConstantTimeCompare(presented[:], a.tokenHash[:]) == 1
		if !ok || !strings.EqualFold(scheme, "Bearer") || !valid {
			a.log.Warn("admin: rejected request", "method", r.Method, "path", r.URL.Path, "client_addr", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin"`)
			a.writeError(w, r, unauthorized())
			return
		}
		next.ServeHTTP(w, r)
	})
}

// healthz reports that the process serves HTTP.
func (a *api) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyResponse is the /readyz body: the verdict and what it rests on.
type readyResponse struct {
	Status string `json:"status"` // "ready" | "unavailable"
	vault.Health
	// Policy is "ok", or the last policy load's error (the last good
	// policy stays in force); absent when the server has no policy.
	Policy string `json:"policy,omitempty"`
}

// readyz answers 200 while the vault can serve (Vault.Health: the store
// answers, or cached entries are still served within vault.stale_if_error)
// and 503 otherwise, with the store and Redis states either way. Redis is
// optional: it shows in the body but never makes the replica unready.
func (a *api) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	h := a.vault.Health(ctx)
	pol := ""
	if a.policyErr != nil {
		pol = "ok"
		if err := a.policyErr(); err != nil {
			pol = err.Error()
		}
	}
	if !h.Ready {
		a.log.Warn("admin: not ready", "store", h.Store, "redis", h.Redis)
		writeJSON(w, http.StatusServiceUnavailable, readyResponse{Status: "unavailable", Health: h, Policy: pol})
		return
	}
	writeJSON(w, http.StatusOK, readyResponse{Status: "ready", Health: h, Policy: pol})
}

// record writes an admin audit event for a mutating call made with the
// admin token.
func (a *api) record(r *http.Request, e audit.Event) { a.recordAs(r, Actor, e) }

// recordAs writes an admin audit event with actor. The change is already
// committed, so a refused event is logged rather than failing it.
func (a *api) recordAs(r *http.Request, actor string, e audit.Event) {
	e.Kind = audit.KindAdmin
	e.Actor = actor
	e.ClientAddr = r.RemoteAddr
	if err := a.audit.Record(e); err != nil {
		a.log.Error("admin: audit event not recorded", "action", e.Action, "app_id", e.AppID, "err", err)
	}
}

// statusWriter remembers the response status for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// logRequests logs one line per request: method, path, status, duration.
// Paths carry ids and names only; bodies and headers are never logged.
func (a *api) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		a.log.Debug("admin request", "method", r.Method, "path", r.URL.Path,
			"status", sw.status, "duration", time.Since(start), "client_addr", r.RemoteAddr)
	})
}
