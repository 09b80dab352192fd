package certs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

const (
	dirMode  fs.FileMode = 0o700
	keyMode  fs.FileMode = 0o600
	certMode fs.FileMode = 0o644
)

// ensureDir creates dir (and missing parents) with mode 0700 when it does
// not exist. An existing directory is left as the caller made it.
func ensureDir(dir string) error {
	info, err := os.Stat(dir)
	switch {
	case err == nil:
		if !info.IsDir() {
			return fmt.Errorf("certs: %s is not a directory", dir)
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("certs: %w", err)
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("certs: create data directory: %w", err)
	}
	// The umask can only clear bits; chmod makes the mode exactly 0700 even
	// under an unusual umask that cleared owner bits.
	if err := os.Chmod(dir, dirMode); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	return nil
}

// writeKeyFile creates path exclusively with mode 0600 and writes data. The
// mode is given to open(2) itself, so the key is never readable by others,
// not even between creation and a later chmod. O_EXCL refuses to follow or
// reuse anything already at path.
func writeKeyFile(path string, data []byte) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, keyMode)
	if err != nil {
		return fmt.Errorf("certs: create CA key file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(path)
		}
	}()
	if err := f.Chmod(keyMode); err != nil {
		return fmt.Errorf("certs: chmod CA key file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("certs: write CA key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("certs: sync CA key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("certs: close CA key file: %w", err)
	}
	return nil
}

// writeCertFile writes the certificate through a temporary file renamed
// into place, so a crash never leaves a truncated ca.pem behind.
func writeCertFile(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ca-*.pem.tmp")
	if err != nil {
		return fmt.Errorf("certs: create CA certificate file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(certMode); err != nil {
		return fmt.Errorf("certs: chmod CA certificate file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("certs: write CA certificate file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("certs: sync CA certificate file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("certs: close CA certificate file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("certs: install CA certificate file: %w", err)
	}
	return nil
}

// readPrivateFile reads a file that must be accessible only by its owner.
// The mode is checked on the open descriptor, so the file checked is the
// file read. Windows has no POSIX modes, so the check is skipped there.
func readPrivateFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("certs: open CA key file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("certs: stat CA key file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("certs: CA key file %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("certs: CA key file %s has mode %04o and is accessible by group or others; run `chmod 600 %s`",
			path, perm, path)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("certs: read CA key file: %w", err)
	}
	return data, nil
}
