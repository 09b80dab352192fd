// Command gatehouse runs the Gatehouse egress proxy (`gatehouse serve`) and
// administers a running one through its admin API (apps, agents, keys,
// secrets, grants, audit).
package main

import (
	"context"
	"os"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
// It is the only package-level variable, and only the linker writes it.
var version = "dev"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, version))
}
