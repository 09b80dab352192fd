package policy

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// glob is a precompiled pattern: path.Match syntax ("*" matches any run of
// non-'/' characters, "?" one non-'/' character, "[...]" a class, "\" an
// escape) plus "**", which matches any run including '/'. Patterns without
// metacharacters compare by equality.
type glob struct {
	pat   string
	exact bool
}

var errBadPattern = errors.New("malformed pattern")

func compileGlob(pat string) (glob, error) {
	if err := checkGlob(pat); err != nil {
		return glob{}, err
	}
	return glob{pat: pat, exact: !strings.ContainsAny(pat, `*?[\`)}, nil
}

func (g glob) match(s string) bool {
	if g.exact {
		return g.pat == s
	}
	return globMatch(g.pat, s)
}

// checkGlob rejects unterminated classes, empty classes and trailing escapes.
func checkGlob(pat string) error {
	for i := 0; i < len(pat); i++ {
		switch pat[i] {
		case '\\':
			if i+1 >= len(pat) {
				return errBadPattern
			}
			i++
		case '[':
			j := i + 1
			if j < len(pat) && pat[j] == '^' {
				j++
			}
			start := j
			for ; j < len(pat) && (pat[j] != ']' || j == start); j++ {
				if pat[j] == '\\' {
					j++
				}
			}
			if j >= len(pat) {
				return errBadPattern
			}
			i = j
		}
	}
	return nil
}

// globMatch reports whether s matches the whole pattern. Patterns are
// written by operators and short, so plain backtracking is fine.
func globMatch(pat, s string) bool {
	for len(pat) > 0 {
		switch pat[0] {
		case '*':
			if strings.HasPrefix(pat, "**") {
				rest := strings.TrimLeft(pat, "*")
				for i := 0; i <= len(s); i++ {
					if globMatch(rest, s[i:]) {
						return true
					}
				}
				return false
			}
			rest := pat[1:]
			for i := 0; i <= len(s); i++ {
				if globMatch(rest, s[i:]) {
					return true
				}
				if i < len(s) && s[i] == '/' {
					return false
				}
			}
			return false
		case '?':
			if s == "" || s[0] == '/' {
				return false
			}
			_, n := utf8.DecodeRuneInString(s)
			pat, s = pat[1:], s[n:]
		case '[':
			if s == "" {
				return false
			}
			r, n := utf8.DecodeRuneInString(s)
			ok, rest := matchClass(pat[1:], r)
			if !ok || r == '/' {
				return false
			}
			pat, s = rest, s[n:]
		case '\\':
			if len(pat) < 2 || s == "" || s[0] != pat[1] {
				return false
			}
			pat, s = pat[2:], s[1:]
		default:
			if s == "" || s[0] != pat[0] {
				return false
			}
			pat, s = pat[1:], s[1:]
		}
	}
	return s == ""
}

// matchClass matches r against the class body that starts after '[' and
// returns the pattern after the closing ']'. checkGlob guarantees the ']'.
func matchClass(pat string, r rune) (bool, string) {
	negate := false
	if pat != "" && pat[0] == '^' {
		negate, pat = true, pat[1:]
	}
	matched := false
	for first := true; pat != "" && (pat[0] != ']' || first); first = false {
		lo, n := classRune(pat)
		pat = pat[n:]
		hi := lo
		if len(pat) > 1 && pat[0] == '-' && pat[1] != ']' {
			var m int
			hi, m = classRune(pat[1:])
			pat = pat[1+m:]
		}
		if lo <= r && r <= hi {
			matched = true
		}
	}
	if pat != "" {
		pat = pat[1:] // the ']'
	}
	return matched != negate, pat
}

func classRune(pat string) (rune, int) {
	if pat[0] == '\\' && len(pat) > 1 {
		r, n := utf8.DecodeRuneInString(pat[1:])
		return r, n + 1
	}
	return utf8.DecodeRuneInString(pat)
}
