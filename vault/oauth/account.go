package oauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"golang.org/x/oauth2"
)

// maxAccountLen bounds the account recorded on a grant.
const maxAccountLen = 255

// accountOf reads the provider-side account from a token response, per the
// catalog's oauth.account_field: a dotted path into the response JSON
// ("authed_user.id", "team.id"), or "id_token.<claim path>" for a claim of
// the OpenID Connect ID token that came with it. The ID token is read
// without a signature check: it came straight from the token endpoint over
// verified TLS (OpenID Connect Core 3.1.3.7). Only strings and numbers are
// accounts; anything else, a missing field, and the token fields themselves
// (which are secrets) give "".
func accountOf(tok *oauth2.Token, field string) string {
	if field == "" {
		return ""
	}
	first, rest, nested := strings.Cut(field, ".")
	switch first {
	case "access_token", "refresh_token":
		return ""
	case "id_token":
		if !nested {
			return ""
		}
		raw, _ := tok.Extra("id_token").(string)
		claims := idTokenClaims(raw)
		if claims == nil {
			return ""
		}
		return scalar(walk(claims, rest))
	}
	v := tok.Extra(first)
	if nested {
		v = walk(v, rest)
	}
	return scalar(v)
}

// walk follows a dotted path through decoded JSON objects.
func walk(v any, path string) any {
	for seg := range strings.SplitSeq(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = obj[seg]
	}
	return v
}

// scalar renders a string or number as an account; anything else is "".
func scalar(v any) string {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case json.Number:
		s = v.String()
	case float64:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return ""
	}
	return clean(s, maxAccountLen)
}

// idTokenClaims decodes the payload of a compact JWS, or nil.
func idTokenClaims(jwt string) map[string]any {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber() // numeric subjects keep every digit
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil
	}
	return claims
}
