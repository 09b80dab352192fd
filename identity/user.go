package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// PrincipalPrefix starts every user principal (vault.PrincipalUserPrefix).
const PrincipalPrefix = "user:"

// maxIDLen is the length limit of the vault name rule.
const maxIDLen = 63

// User is the verified end user of a request.
type User struct {
	ID     string   // fits the vault name rule; see Principal
	Groups []string // IdP groups in token order, duplicates and empty names removed; nil when none
}

// Principal is the grant principal of u, "user:<id>".
func (u User) Principal() string { return PrincipalPrefix + u.ID }

// Principal maps an IdP user id to its grant principal "user:<id>". The id
// must already match the vault name rule [a-z0-9][a-z0-9._-]{0,62}; any
// other id (upper case, "|", "@", longer than 63 characters) is refused with
// ErrNoUser rather than mapped. Lower-casing was rejected because OIDC
// subjects are case sensitive (two users would share one principal), and
// hashing because the principal would no longer be recognisable in grants,
// policies and audit. Admin paths that accept a user id (connect with
// user=ID) should call Principal too, so both paths agree.
func Principal(id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	return PrincipalPrefix + id, nil
}

// checkID applies the vault name rule to a user id. The id is not quoted in
// the message: it came from a token and is the caller's business only.
func checkID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: user id is empty", ErrNoUser)
	}
	if len(id) > maxIDLen {
		return fmt.Errorf("%w: user id is longer than %d characters", ErrNoUser, maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return fmt.Errorf("%w: user id must match [a-z0-9][a-z0-9._-]{0,62} (choose a user_claim whose values do)", ErrNoUser)
		}
	}
	return nil
}

// userFromClaims extracts the user id and groups from verified claims.
func userFromClaims(claims map[string]any, userClaim, groupClaim string) (User, error) {
	var id string
	switch v := claims[userClaim].(type) {
	case nil:
		return User{}, fmt.Errorf("%w: claim %q is missing", ErrNoUser, userClaim)
	case string:
		id = v
	case json.Number:
		// Numeric ids (GitHub-style) are kept exactly; only integers qualify.
		if _, err := v.Int64(); err != nil {
			return User{}, fmt.Errorf("%w: claim %q is not an integer or a string", ErrNoUser, userClaim)
		}
		id = v.String()
	default:
		return User{}, fmt.Errorf("%w: claim %q is not a string", ErrNoUser, userClaim)
	}
	if err := checkID(id); err != nil {
		return User{}, fmt.Errorf("claim %q: %w", userClaim, err)
	}
	u := User{ID: id}
	if groupClaim == "" {
		return u, nil
	}
	groups, err := groupsOf(claims[groupClaim])
	if err != nil {
		return User{}, fmt.Errorf("%w: claim %q %s", ErrMalformed, groupClaim, err.Error())
	}
	u.Groups = groups
	return u, nil
}

// groupsOf accepts a missing claim (no groups), a string (one group) or an
// array of strings. Any other shape is an error rather than "no groups":
// grants bound to groups must not depend on a claim we misread.
func groupsOf(v any) ([]string, error) {
	var raw []string
	switch g := v.(type) {
	case nil:
		return nil, nil
	case string:
		raw = []string{g}
	case []any:
		raw = make([]string, 0, len(g))
		for _, e := range g {
			s, ok := e.(string)
			if !ok {
				return nil, errNotStrings
			}
			raw = append(raw, s)
		}
	default:
		return nil, errNotStrings
	}
	var out []string
	for _, s := range raw {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// errNotStrings is the detail for a group claim of the wrong shape.
var errNotStrings = errors.New("must be a string or an array of strings")
