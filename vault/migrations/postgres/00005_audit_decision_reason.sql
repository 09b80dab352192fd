-- Issue 5: every policy decision's reason goes into the audit event next to
-- its rule (the deny reason, "allowed by default", or why report rules
-- would have denied).

-- +goose Up
ALTER TABLE audit_events ADD COLUMN decision_reason text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE audit_events DROP COLUMN decision_reason;
