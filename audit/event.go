// Package audit records one immutable event per proxied call, per refusal and
// per lifecycle/admin action. This issue ships a bounded asynchronous writer
// that drains on clean shutdown; the lossless spool and hash chain come later.
package audit

import (
	"context"
	"errors"
	"time"
)

// ErrQueueFull is returned by Writer.Record when the bounded queue cannot take
// another event; the proxy refuses the call with audit_unavailable.
var ErrQueueFull = errors.New("audit queue full")

// ErrClosed is returned by Writer.Record after Close.
var ErrClosed = errors.New("audit writer closed")

// ErrInvalidEvent is returned (wrapped) for an event a store cannot persist:
// an empty ID, or a Time outside the years 1678..2262 (int64 Unix nanoseconds).
var ErrInvalidEvent = errors.New("invalid audit event")

// ErrCursorNotFound is returned (wrapped) by ListEvents when Query.AfterID
// names no event visible to the query (unknown id, or another app's event
// when Query.AppID is set: both look the same).
var ErrCursorNotFound = errors.New("audit cursor not found")

// Page sizes for ListEvents.
const (
	DefaultLimit = 100  // Query.Limit 0
	MaxLimit     = 1000 // larger limits are clamped to this
)

// Event kinds.
const (
	KindCall  = "call"  // a proxied request (allowed or refused)
	KindAdmin = "admin" // a lifecycle/admin action (key minted, grant revoked, …)
)

// Decisions.
const (
	DecisionAllow  = "allow"
	DecisionDeny   = "deny"
	DecisionTunnel = "tunnel" // blind pass-through to an allowlisted host
	DecisionReport = "report" // allowed, but report-mode rules (Rule) would have denied it
)

// Event is one audit row. Path never carries query values (they are
// redacted before the event is built); no field ever carries a secret.
type Event struct {
	ID              string        `json:"id"` // UUIDv7, unique; also the idempotency key
	Time            time.Time     `json:"time"`
	Kind            string        `json:"kind"`
	RequestID       string        `json:"request_id,omitempty"`
	AppID           string        `json:"app_id,omitempty"`
	KeyID           string        `json:"key_id,omitempty"`
	AgentID         string        `json:"agent_id,omitempty"`
	Principal       string        `json:"principal,omitempty"`
	GrantID         string        `json:"grant_id,omitempty"`
	ProviderID      string        `json:"provider_id,omitempty"`
	Method          string        `json:"method,omitempty"`
	Host            string        `json:"host,omitempty"`
	Path            string        `json:"path,omitempty"`
	Status          int           `json:"status,omitempty"`
	UpstreamLatency time.Duration `json:"upstream_latency_ns,omitempty"`
	TotalLatency    time.Duration `json:"total_latency_ns,omitempty"`
	BytesIn         int64         `json:"bytes_in"`
	BytesOut        int64         `json:"bytes_out"`
	Decision        string        `json:"decision,omitempty"`
	Rule            string        `json:"rule,omitempty"`
	ErrorCode       string        `json:"error_code,omitempty"`
	Action          string        `json:"action,omitempty"` // admin events: "key.create", "grant.revoke", …
	Actor           string        `json:"actor,omitempty"`  // admin events: who did it
	Reason          string        `json:"reason,omitempty"`
	Context         string        `json:"context,omitempty"`
	ClientAddr      string        `json:"client_addr,omitempty"`
	// DecisionReason says why the policy decided as it did (the deny
	// reason, "allowed by default", or why report rules would deny).
	DecisionReason string `json:"decision_reason,omitempty"`
}

// Query filters ListEvents. Zero values match everything. Results are ordered
// by Time then ID ascending; Limit 0 means DefaultLimit, larger than MaxLimit
// means MaxLimit, negative is an error. Since is inclusive, Until exclusive.
type Query struct {
	AppID      string
	AgentID    string
	Principal  string
	GrantID    string
	ProviderID string
	Decision   string
	Kind       string
	Since      time.Time // events with Time >= Since
	Until      time.Time // events with Time < Until
	AfterID    string    // cursor: events strictly after this event id in (Time, ID) order
	Limit      int
}

// Store persists events. InsertEvents is idempotent by Event.ID.
type Store interface {
	InsertEvents(ctx context.Context, events []Event) error
	ListEvents(ctx context.Context, q Query) ([]Event, error)
}
