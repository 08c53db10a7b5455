package core

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
)

// TestAttackParsePins: malformed pins are refused with an error that
// names the entry's position, never its text; nothing malformed is
// silently dropped (an empty entry between commas pins nothing, and a
// list of nothing but empties is refused).
func TestAttackParsePins(t *testing.T) {
	sum := sha256.Sum256([]byte("k"))
	good := base64.StdEncoding.EncodeToString(sum[:])
	url := base64.URLEncoding.EncodeToString(sum[:])
	if url == good {
		sum = sha256.Sum256([]byte("kk")) // want a hash whose encodings differ
		good, url = base64.StdEncoding.EncodeToString(sum[:]), base64.URLEncoding.EncodeToString(sum[:])
	}
	bad := map[string]string{
		"empty":          "",
		"only commas":    " , ,",
		"unpadded":       strings.TrimRight(good, "="),
		"base64url":      url,
		"hex":            strings.Repeat("ab", 32),
		"sha1 length":    base64.StdEncoding.EncodeToString(sum[:20]),
		"sha512 length":  base64.StdEncoding.EncodeToString(append(sum[:], sum[:]...)),
		"inner space":    good[:10] + " " + good[10:],
		"double prefix":  "sha256/sha256/" + good,
		"upper prefix":   "SHA256/" + good,
		"second bad":     good + ",Zq7secretnotapin",
		"semicolon list": good + ";" + good,
	}
	if !strings.ContainsAny(url, "-_") {
		delete(bad, "base64url")
	}
	for name, v := range bad {
		if _, err := ParsePins(v); err == nil {
			t.Errorf("%s: %q accepted", name, v)
		} else if strings.Contains(err.Error(), "Zq7") {
			t.Errorf("%s: the error repeats the value: %v", name, err)
		}
	}
	for name, v := range map[string]string{
		"prefixed":       "sha256/" + good,
		"spaces":         "  " + good + " , sha256/" + good + " ",
		"trailing comma": good + ",",
	} {
		ps, err := ParsePins(v)
		if err != nil || len(ps) == 0 || ps[0] != sum {
			t.Errorf("%s: %q: %v %v", name, v, ps, err)
		}
	}
	// A huge list is read (it is the operator's own), each entry checked.
	huge := strings.Repeat(good+",", 100000) + "x"
	if _, err := ParsePins(huge); err == nil || !strings.Contains(err.Error(), "entry 100001") {
		t.Errorf("huge list: %v", err)
	}
}
