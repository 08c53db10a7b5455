package dsn

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// MaxServiceFileSize is the largest pg_service.conf securepg reads (the
// drivers read any size): a service file is capped as a DSN is.
const MaxServiceFileSize = 64 << 10

// ErrServiceNotFound is Service's error for a file that has no section of
// the name.
var ErrServiceNotFound = errors.New("the service file has no such service")

// Service reads the section name of a pg_service.conf (its content,
// data) exactly as driver reads it; an unknown driver is read as pgx.
// Neither driver reads a system-wide file (PGSYSCONFDIR): the file is the
// servicefile setting (pgx only), PGSERVICEFILE, or ~/.pg_service.conf,
// and a missing file is an error to both. Lines are split as
// bufio.Scanner splits them (a line over 64 KiB is an error), trimmed of
// Unicode space, '#' starts a comment line, and of a key repeated in the
// section the last value wins. Where they differ:
//
//   - pgx (pgservicefile) parses the whole file: a line outside any
//     section, or without '=' in one, is an error. The name is what is
//     between the brackets, untrimmed; of two sections of one name the
//     last wins. Keys are canonical (database for dbname; with both in one
//     section, pgx keeps either, by map order, and the reader the later).
//   - lib/pq reads up to the first section whose trimmed name is name, and
//     then that section only: a line of it without '=', or with nothing
//     before '=', is an error. Keys are as written (lib/pq refuses unknown
//     ones when it applies them).
//
// Service is linear in len(data) and fails beyond MaxServiceFileSize.
func Service(driver string, data []byte, name string) (map[string]string, error) {
	if len(data) > MaxServiceFileSize {
		return nil, fmt.Errorf("the service file is %d bytes; securepg reads at most %d", len(data), MaxServiceFileSize)
	}
	if driver == PQ {
		return pqService(data, name)
	}
	return pgxService(data, name)
}

func pgxService(data []byte, name string) (map[string]string, error) {
	var found, cur map[string]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			cur = map[string]string{}
			if line[1:len(line)-1] == name {
				found = cur // the last section of the name wins
			}
		case cur == nil:
			return nil, fmt.Errorf("line %d is not in a section", n)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return nil, fmt.Errorf("unable to parse line %d", n)
			}
			k = strings.TrimSpace(k)
			if k == "dbname" {
				k = "database"
			}
			cur[k] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if found == nil {
		return nil, ErrServiceNotFound
	}
	return found, nil
}

func pqService(data []byte, name string) (map[string]string, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	var opts map[string]string
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		section := line[0] == '[' && line[len(line)-1] == ']'
		switch {
		case section && opts != nil:
			return opts, nil // the end of the service's section
		case section:
			if strings.TrimSpace(line[1:len(line)-1]) == name {
				opts = map[string]string{}
			}
		case opts != nil:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return nil, fmt.Errorf("line %d: missing '='", n)
			}
			if k = strings.TrimSpace(k); k == "" {
				return nil, fmt.Errorf("line %d: no value before '='", n)
			}
			opts[k] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if opts == nil {
		return nil, ErrServiceNotFound
	}
	return opts, nil
}
