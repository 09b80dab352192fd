// Package policy is Gatehouse's rule engine: it decides, after the base
// entitlement check, whether one proxied call may proceed.
//
// Rules are YAML documents (apiVersion gatehouse/v1, kind Policy) parsed
// strictly by Parse and LoadDir: unknown fields, bad globs, CIDRs, zones or
// CEL expressions are reported as *FieldError values that carry the file,
// line and field. Compile turns rules into a Policy whose globs, CIDRs, time
// windows and CEL programs are prepared once and indexed by provider, so that
// Evaluate does no parsing and no I/O except the rate-limit counter.
//
// Semantics: deny wins over allow; report rules never block and show up in
// Decision.WouldDeny; with Config.DefaultEffect deny (strict mode) a call
// needs a matching allow rule; a rate_limit rule denies with Code
// rate_limited when its token bucket is empty. Any evaluation error (CEL
// error or cost overrun, rate limiter unavailable, cancelled context) denies:
// the engine fails closed.
//
// Engine holds the current Policy behind an atomic pointer so reloads (Watch,
// Reload, Swap) never block evaluation; an Engine without a policy denies
// every call.
package policy
