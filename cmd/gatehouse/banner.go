package main

import (
	"fmt"
	"io"
)

// announce tells the operator where everything is and how to trust the CA:
// a human-readable block on stderr plus one structured log line. Neither
// contains a secret (the token is referred to by its file).
func (s *server) announce(stderr io.Writer, version string) {
	proxyAddr := s.proxyLn.Addr().String()
	adminURL := "http://" + browsableAddr(s.adminLn.Addr().String())
	proxyURL := "http://" + browsableAddr(proxyAddr)
	ca := shellQuote(s.caPath)

	s.log.Info("gatehouse started",
		"version", version,
		"proxy_addr", proxyAddr,
		"admin_addr", s.adminLn.Addr().String(),
		"data_dir", s.cfg.DataDir,
		"ca_cert", s.caPath,
		"ca_fingerprint_sha256", s.caFingerprint,
		"admin_token_file", s.tokenPath,
		"oauth_redirect_uri", s.redirectURI,
	)
	fmt.Fprintf(stderr, `
Gatehouse %s is running.
  proxy        %s   (clients: HTTPS_PROXY=%s)
  admin API    %s
  OAuth        redirect URI %s   (register it with each provider's OAuth client)
  data dir     %s
  CA cert      %s
               SHA-256 %s
  admin token  %s   (the CLI reads it from there)

Trust the CA in clients that go through the proxy:
  curl --cacert %s --proxy %s https://…
  export SSL_CERT_FILE=%s        # OpenSSL-based tools; replaces the system roots
  export NODE_EXTRA_CA_CERTS=%s  # Node.js (also NODE_USE_ENV_PROXY=1 for fetch)
  export REQUESTS_CA_BUNDLE=%s   # Python requests; replaces certifi's roots

`, version, proxyAddr, proxyURL, adminURL, s.redirectURI, s.cfg.DataDir, s.caPath, s.caFingerprint, s.tokenPath,
		ca, proxyURL, ca, ca, ca)
}
