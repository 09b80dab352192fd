package audit

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind (the
// writer's, or a database/sql connection opener whose DB was not closed).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
