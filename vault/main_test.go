package vault_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind (cache
// maintenance, database pools).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
