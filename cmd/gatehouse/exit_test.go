package main

import (
	"errors"
	"fmt"
	"testing"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"ok", nil, 0},
		{"plain error", errors.New("boom"), 1},
		{"usage", usageErrorf("bad flag"), 2},
		{"api invalid_request", &cliError{Code: codeInvalidRequest}, 2},
		{"api unauthorized", &cliError{Code: codeUnauthorized}, 3},
		{"api not_found", &cliError{Code: codeNotFound}, 4},
		{"api conflict", &cliError{Code: codeConflict}, 5},
		{"api internal", &cliError{Code: codeInternal}, 1},
		{"unknown api code", &cliError{Code: "rate_limited"}, 1},
		{"wrapped conflict", fmt.Errorf("create: %w", &cliError{Code: codeConflict}), 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestCodeForStatus(t *testing.T) {
	tests := []struct {
		status int
		want   int // exit code
	}{
		{400, 2}, {401, 3}, {403, 3}, {404, 4}, {409, 5}, {500, 1}, {502, 1},
	}
	for _, tt := range tests {
		if got := exitCode(&cliError{Code: codeForStatus(tt.status)}); got != tt.want {
			t.Errorf("status %d → exit %d, want %d", tt.status, got, tt.want)
		}
	}
}
