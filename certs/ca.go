package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// File names of the CA inside the data directory.
const (
	// CertFile holds the PEM-encoded CA certificate (mode 0644: it is public).
	CertFile = "ca.pem"
	// KeyFile holds the PEM-encoded PKCS#8 CA private key (mode 0600).
	KeyFile = "ca-key.pem"
)

// caLifetime is how long a generated CA is valid. Long, because every
// client that trusts it has to re-import a replacement.
const caLifetime = 10 * 365 * 24 * time.Hour

// caBackdate tolerates clients whose clocks run behind ours.
const caBackdate = time.Hour

// CA is the certificate authority that signs every leaf Gatehouse serves to
// intercepted clients. It is immutable after LoadOrCreateCA and safe for
// concurrent use.
type CA struct {
	cert        *x509.Certificate
	key         *ecdsa.PrivateKey
	certPEM     []byte
	fingerprint [sha256.Size]byte
	fpHex       string
}

// LoadOrCreateCA loads ca.pem and ca-key.pem from dir, or creates a new
// ECDSA P-256 self-signed CA there when neither file exists. dir is created
// with mode 0700 when missing. now supplies the clock (time.Now when nil).
//
// Loading refuses a key file readable or writable by group or others, a key
// that is not ECDSA P-256, a certificate that is not a CA, an expired CA, and
// a certificate whose public key does not match the key. When only one of
// the two files exists it refuses too, rather than silently replacing a CA
// that clients may already trust.
func LoadOrCreateCA(dir string, now func() time.Time) (*CA, error) {
	if now == nil {
		now = time.Now
	}
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	certPath := filepath.Join(dir, CertFile)
	keyPath := filepath.Join(dir, KeyFile)

	certExists, err := exists(certPath)
	if err != nil {
		return nil, err
	}
	keyExists, err := exists(keyPath)
	if err != nil {
		return nil, err
	}
	switch {
	case certExists && keyExists:
		return loadCA(certPath, keyPath, now())
	case !certExists && !keyExists:
		return createCA(certPath, keyPath, now())
	case certExists:
		return nil, fmt.Errorf("certs: %s exists but %s is missing; restore the key or remove %s to generate a new CA", certPath, keyPath, certPath)
	default:
		return nil, fmt.Errorf("certs: %s exists but %s is missing; restore the certificate or remove %s to generate a new CA", keyPath, certPath, keyPath)
	}
}

// CertPEM returns the PEM-encoded CA certificate, the file clients import
// into their trust store. The caller owns the returned slice.
func (ca *CA) CertPEM() []byte { return bytes.Clone(ca.certPEM) }

// Fingerprint returns the lowercase hex SHA-256 of the CA certificate's DER
// encoding, as shown by `openssl x509 -fingerprint -sha256` without colons.
func (ca *CA) Fingerprint() string { return ca.fpHex }

// Certificate returns the parsed CA certificate. It is shared: callers must
// not modify it.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// newCA derives the cached fields from a verified certificate and key.
func newCA(cert *x509.Certificate, key *ecdsa.PrivateKey) *CA {
	fp := sha256.Sum256(cert.Raw)
	return &CA{
		cert:        cert,
		key:         key,
		certPEM:     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		fingerprint: fp,
		fpHex:       hex.EncodeToString(fp[:]),
	}
}

// createCA generates a key and a self-signed CA certificate and writes both.
// The key is written first, exclusively, so two processes racing on an empty
// directory cannot both believe they own the CA.
func createCA(certPath, keyPath string, now time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("certs: generate CA key: %w", err)
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix) // crypto/rand.Read never fails since Go 1.24.
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject: pkix.Name{
			CommonName:   "Gatehouse Local CA " + hex.EncodeToString(suffix),
			Organization: []string{"Gatehouse"},
		},
		NotBefore:             now.Add(-caBackdate),
		NotAfter:              now.Add(caLifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("certs: self-sign CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("certs: parse generated CA certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("certs: encode CA key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := writeKeyFile(keyPath, keyPEM); err != nil {
		return nil, err
	}
	ca := newCA(cert, key)
	if err := writeCertFile(certPath, ca.certPEM); err != nil {
		// Without the certificate the key is useless and would block the
		// next start ("key without certificate"), so take it back.
		_ = os.Remove(keyPath)
		return nil, err
	}
	return ca, nil
}

// loadCA reads and cross-checks an existing certificate and key.
func loadCA(certPath, keyPath string, now time.Time) (*CA, error) {
	key, err := readKey(keyPath)
	if err != nil {
		return nil, err
	}
	cert, err := readCert(certPath)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, fmt.Errorf("certs: %s is not a CA certificate (basic constraints CA:TRUE required)", certPath)
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("certs: %s lacks the certSign key usage", certPath)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(key.Public()) {
		return nil, fmt.Errorf("certs: %s does not match the key in %s", certPath, keyPath)
	}
	if !now.Before(cert.NotAfter) {
		return nil, fmt.Errorf("certs: CA certificate %s expired at %s; move %s and %s away to generate a new CA",
			certPath, cert.NotAfter.UTC().Format(time.RFC3339), CertFile, KeyFile)
	}
	return newCA(cert, key), nil
}

// readCert parses a file holding exactly one PEM certificate.
func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("certs: read CA certificate: %w", err)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("certs: %s holds no PEM CERTIFICATE block", path)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("certs: %s holds more than one PEM block; keep only the CA certificate", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certs: parse %s: %w", path, err)
	}
	return cert, nil
}

// readKey parses the CA key after checking that only its owner can access
// it. It accepts PKCS#8 ("PRIVATE KEY") and SEC 1 ("EC PRIVATE KEY", as
// written by `openssl ecparam -genkey`, optionally after an EC PARAMETERS
// block). Error strings never include key material.
func readKey(path string) (*ecdsa.PrivateKey, error) {
	data, err := readPrivateFile(path)
	if err != nil {
		return nil, err
	}
	var keyBlock *pem.Block
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "EC PARAMETERS":
			continue
		case "PRIVATE KEY", "EC PRIVATE KEY":
			if keyBlock != nil {
				return nil, fmt.Errorf("certs: %s holds more than one private key", path)
			}
			keyBlock = block
		default:
			return nil, fmt.Errorf("certs: %s holds an unexpected PEM block %q", path, block.Type)
		}
	}
	if keyBlock == nil {
		return nil, fmt.Errorf("certs: %s holds no PEM private key", path)
	}

	var parsed any
	if keyBlock.Type == "EC PRIVATE KEY" {
		parsed, err = x509.ParseECPrivateKey(keyBlock.Bytes)
	} else {
		parsed, err = x509.ParsePKCS8PrivateKey(keyBlock.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("certs: parse private key in %s: %w", path, err)
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("certs: key in %s is %T; the CA key must be ECDSA P-256", path, parsed)
	}
	if key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("certs: key in %s uses curve %s; the CA key must be ECDSA P-256", path, key.Curve.Params().Name)
	}
	return key, nil
}

// randomSerial returns a random 128-bit serial number. The top bit is forced
// so the value is never zero and always encodes to the same length.
func randomSerial() *big.Int {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails since Go 1.24.
	b[0] |= 0x80
	return new(big.Int).SetBytes(b)
}

// exists reports whether path exists, treating any error other than
// "not exist" as a real failure (a permission problem must not look like a
// missing CA and trigger a regeneration).
func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("certs: %w", err)
	}
}
