// Package certs owns Gatehouse's certificate authority: it loads or creates
// the ECDSA P-256 CA in the data directory and mints short-lived leaf
// certificates for intercepted hosts through a bounded, deduplicating cache.
package certs
