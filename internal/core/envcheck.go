package core

import (
	"errors"
	"slices"
	"strings"
)

// labVariable reports whether name is package lab's
// SECUREPG_LAB_PG<major>_BIN, which configures test servers.
func labVariable(name string) bool {
	major, ok := strings.CutPrefix(name, "SECUREPG_LAB_PG")
	major, ok2 := strings.CutSuffix(major, "_BIN")
	return ok && ok2 && major != "" && strings.Trim(major, "0123456789") == ""
}

// unknownVariables fails closed on a non-blank SECUREPG_ variable
// securepg does not know: a misspelt one would otherwise leave the policy
// at its default without a word. The error names the closest known
// setting, never the value.
func unknownVariables(environ []string) error {
	var errs []error
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		// Any case: securepg_forbid_superuser is not silently ignored.
		upper := strings.ToUpper(name)
		if strings.TrimSpace(value) == "" || !strings.HasPrefix(upper, "SECUREPG_") || labVariable(name) ||
			slices.Contains(EnvVars, name) {
			continue
		}
		if name == "SECUREPG_DRIVER" {
			errs = append(errs, settingError("SECUREPG_DRIVER", `securepg: SECUREPG_DRIVER is not a setting: the backend is chosen in code, by driver name: sql.Open("securepg", dsn) is pgx, sql.Open("securepg-pq", dsn) is lib/pq; unset SECUREPG_DRIVER`))
			continue
		}
		errs = append(errs, settingError(SafeText(truncate(name, 64)), "securepg: unknown variable %s: did you mean %s? (rename or unset it; securepg refuses settings it does not know)", SafeText(truncate(name, 64)), closestVariable(name)))
	}
	return errors.Join(errs...)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// closestVariable is the known variable nearest to name: one that starts
// name or that name starts, else the nearest by edit distance.
func closestVariable(name string) string {
	name = strings.ToUpper(truncate(name, 64)) // edit distance is quadratic: bound it
	best, bestD := "", 0
	for _, v := range EnvVars {
		d := editDistance(name, v)
		if strings.HasPrefix(v, name) || strings.HasPrefix(name, v) {
			d = max(len(v)-len(name), len(name)-len(v)) - 1<<20 // before any edit distance
		}
		if best == "" || d < bestD {
			best, bestD = v, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
