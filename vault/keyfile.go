package vault

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// maxKeyFileSize bounds what LoadOrCreateKeyFile reads: a key file holds 44
// base64 characters and a newline.
const maxKeyFileSize = 1 << 10

// LoadOrCreateKeyFile returns the 32-byte key stored base64-encoded in path,
// creating the file (mode 0600, O_EXCL, fsynced) with fresh random bytes when
// it does not exist. An existing file is never overwritten: a key that cannot
// be read is an error, because silently replacing a KEK or pepper would make
// every stored credential or caller key unusable. A file readable or writable
// by group or others is refused.
func LoadOrCreateKeyFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		return createKeyFile(f, path)
	case errors.Is(err, fs.ErrExist):
		return readKeyFile(path)
	default:
		return nil, fmt.Errorf("create key file: %w", err)
	}
}

func createKeyFile(f *os.File, path string) (key []byte, err error) {
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(path) // only ever the file this call created
		}
	}()
	// The umask cannot widen 0600, but make the mode exact whatever it is.
	if err := f.Chmod(0o600); err != nil {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	key = make([]byte, KEKSize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("create key file: random: %w", err)
	}
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		return nil, fmt.Errorf("create key file: write: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("create key file: sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("create key file: close: %w", err)
	}
	syncDir(filepath.Dir(path))
	return key, nil
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file: %w", path, ErrInvalid)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %04o; it must not be accessible by group or others (chmod 600): %w", path, perm, ErrInvalid)
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	defer clear(raw)
	// Errors below never quote the file: its content is the secret.
	if len(raw) > maxKeyFileSize {
		return nil, fmt.Errorf("key file %s is too large: %w", path, ErrInvalid)
	}
	key, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(raw)))
	if err != nil || len(key) != KEKSize {
		return nil, fmt.Errorf("key file %s must hold %d base64-encoded bytes: %w", path, KEKSize, ErrInvalid)
	}
	return key, nil
}

// syncDir makes a newly created file's directory entry durable. Failure is
// ignored: some file systems do not support fsync on directories, and the
// file itself is already synced.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
