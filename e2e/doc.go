// Package e2e holds Gatehouse's black-box tests: they build the real
// gatehouse binary, run `gatehouse serve` against a fake TLS upstream that
// answers under the real provider hostnames, set everything up through the
// CLI only and drive traffic with real clients (curl, Go net/http, Python's
// urllib). The package has no non-test code; this file only documents it.
package e2e
