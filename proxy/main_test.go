package proxy

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: a leaked
// tunnel copy loop or an unclosed upstream connection shows up here.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
