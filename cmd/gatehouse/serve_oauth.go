package main

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-dev/gatehouse/audit"
	"github.com/gatehouse-dev/gatehouse/catalog"
	"github.com/gatehouse-dev/gatehouse/proxy"
	"github.com/gatehouse-dev/gatehouse/vault/oauth"
)

// callbackPath is where the admin listener receives OAuth redirects.
const callbackPath = "/oauth/callback"

// openOAuth builds the OAuth manager: its HTTP client goes through the same
// hardened egress transport as proxied calls (upstream.resolve, extra
// roots, SSRF guard), and with Redis its refresh leases span replicas.
// Needs s.vault, s.audit and s.adminLn.
func (s *server) openOAuth(cfg Config, up proxy.UpstreamConfig, cat *catalog.Catalog, rc redis.UniversalClient) error {
	tr, err := proxy.NewUpstreamTransport(up)
	if err != nil {
		return fmt.Errorf("oauth: egress transport: %w", err)
	}
	s.egress = tr
	s.closers = append(s.closers, tr.CloseIdleConnections)
	redirect, err := redirectURL(cfg.Admin.PublicURL, s.adminLn.Addr())
	if err != nil {
		return err
	}
	s.redirectURI = redirect
	log := s.log
	d := oauth.Deps{
		Vault:   s.vault,
		Catalog: cat,
		HTTPClient: &http.Client{
			Transport: tr,
			// A backstop: the manager bounds each call with token_timeout.
			Timeout: cfg.OAuth.TokenTimeout,
			// Token and revocation requests carry the client secret and
			// tokens in their bodies; a redirect must never resend them
			// to another URL.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Audit: func(e audit.Event) {
			if err := s.audit.Record(e); err != nil {
				log.Error("oauth: audit event not recorded", "action", e.Action, "app_id", e.AppID, "err", err)
			}
		},
		Log: log,
	}
	if rc != nil {
		d.Redis, d.RedisPrefix = rc, cfg.Redis.Prefix
	}
	m, err := oauth.New(oauth.Config{
		RedirectURL:     redirect,
		Skew:            cfg.OAuth.RefreshSkew,
		ProactiveWindow: cfg.OAuth.ProactiveWindow,
		LeaseTTL:        cfg.OAuth.LeaseTTL,
		TokenTimeout:    cfg.OAuth.TokenTimeout,
		ConnectTTL:      cfg.OAuth.ConnectTTL,
	}, d)
	if err != nil {
		return err
	}
	s.oauth = m
	s.closers = append(s.closers, m.Close)
	return nil
}

// closeOAuth waits for the manager's background refreshes, then drops the
// idle connections to token endpoints.
func (s *server) closeOAuth() {
	s.oauth.Close()
	s.egress.CloseIdleConnections()
}

// redirectURL is the OAuth redirect URI: admin.public_url + /oauth/callback.
// A public URL on port 0 (the default derived from admin.listen
// "host:0") takes the port the admin listener actually bound.
func redirectURL(publicURL string, bound net.Addr) (string, error) {
	u, err := url.Parse(publicURL)
	if err != nil {
		return "", fmt.Errorf("admin.public_url: %q is not a URL", publicURL)
	}
	if u.Port() == "0" && bound != nil {
		u.Host = browsableAddr(bound.String())
	}
	u.Path = strings.TrimRight(u.Path, "/") + callbackPath
	u.RawPath = ""
	return u.String(), nil
}
