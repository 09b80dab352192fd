// Package configs holds the data files Gatehouse compiles into its binary.
// Today that is the built-in provider catalog, configs/providers/*.yaml, read
// by the catalog package; operators extend or override it with files in
// catalog.dirs rather than by editing these.
package configs

import "embed"

// providers is unexported so no other package can reassign it; the content
// of an embed.FS is read-only by construction.
//
//go:embed providers/*.yaml
var providers embed.FS

// Providers returns the embedded provider catalog: one YAML file per
// provider, at "providers/<id>.yaml". The file system is read-only.
func Providers() embed.FS { return providers }
