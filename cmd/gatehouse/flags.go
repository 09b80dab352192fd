package main

import "github.com/spf13/pflag"

// addConfigFlags defines the flags every command accepts for locating and
// overriding the configuration. Their defaults live in the Config tree, so
// the flag defaults are empty and only an explicitly set flag overrides.
func addConfigFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML configuration file (optional)")
	fs.String("data-dir", "", `data directory (config data_dir; default "./.gatehouse")`)
	fs.String("log-level", "", `log level: debug, info, warn, error (config log.level; default "info")`)
}

// addListenFlags defines the listener overrides of `serve`.
func addListenFlags(fs *pflag.FlagSet) {
	fs.String("proxy-listen", "", `proxy listen address (config proxy.listen; default "127.0.0.1:8080")`)
	fs.String("admin-listen", "", `admin API listen address (config admin.listen; default "127.0.0.1:8081")`)
}
