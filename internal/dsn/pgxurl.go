package dsn

import (
	"errors"
	"strings"
)

// readPgxURL follows pgconn's parseURLSettings (libpq's URI parser).
func (r *Reading) readPgxURL(conn string) {
	if strings.IndexByte(conn, 0) >= 0 {
		r.fail(errors.New("forbidden NUL byte in connection string"), conn)
		return
	}
	p, ok := strings.CutPrefix(conn, "postgresql://")
	if !ok {
		p, _ = strings.CutPrefix(conn, "postgres://")
	}
	if p, ok = r.readURLUserinfo(p); !ok {
		return
	}
	if p, ok = r.readURLHosts(p); !ok {
		return
	}
	if p, ok = r.readURLDBName(p); !ok {
		return
	}
	if len(p) > 0 && p[0] == '?' {
		r.readURLQuery(p[1:])
	}
}

// readURLUserinfo reads the user and password before an "@" that comes
// before any "/", and returns the text after it (p itself when there is
// no userinfo); false when it failed.
func (r *Reading) readURLUserinfo(p string) (string, bool) {
	i := strings.IndexAny(p, "@/")
	if i < 0 || p[i] != '@' {
		return p, true
	}
	user, password, hasPassword := strings.Cut(p[:i], ":")
	rest := p[i+1:]
	if user != "" {
		v, err := uriDecode(user)
		if err != nil {
			r.fail(err, p)
			return "", false
		}
		r.Pairs = append(r.Pairs, Pair{Key: "user", Value: v, Raw: user})
	}
	if hasPassword && password != "" {
		v, err := uriDecode(password)
		if err != nil {
			r.Pairs = append(r.Pairs, Pair{Key: "password", Value: password, Raw: password})
			r.fail(errors.New("invalid percent-encoded token in password"), rest)
			return "", false
		}
		r.Pairs = append(r.Pairs, Pair{Key: "password", Value: v, Raw: password})
	}
	return rest, true
}

// readURLHosts reads the comma-separated host[:port] list, appends its
// host and port pairs (each list joined by commas, as pgconn joins them)
// and returns the text after it; false when it failed.
func (r *Reading) readURLHosts(p string) (string, bool) {
	var hb, pb strings.Builder
	for {
		host, rest, ok := r.scanURLHost(p)
		if !ok {
			return "", false
		}
		hb.WriteString(host)
		if p = rest; len(p) > 0 && p[0] == ':' {
			p = p[1:]
			i := strings.IndexAny(p, "/?,")
			if i < 0 {
				i = len(p)
			}
			pb.WriteString(p[:i])
			p = p[i:]
		}
		if len(p) == 0 || p[0] != ',' {
			break
		}
		p = p[1:]
		hb.WriteByte(',')
		pb.WriteByte(',')
	}
	hosts, ports := hb.String(), pb.String()
	if hosts != "" {
		v, err := uriDecode(hosts)
		if err != nil {
			r.fail(err, hosts+":"+ports+p) // the tail: what was not read
			return "", false
		}
		r.Pairs = append(r.Pairs, Pair{Key: "host", Value: v, Raw: hosts})
	}
	if ports != "" {
		v, err := uriDecode(ports)
		if err != nil {
			r.fail(err, ports+p)
			return "", false
		}
		r.Pairs = append(r.Pairs, Pair{Key: "port", Value: v, Raw: ports})
	}
	return p, true
}

// scanURLHost reads one host of the list, a name or a bracketed IPv6
// address, and returns it and the text after it; false when it failed.
func (r *Reading) scanURLHost(p string) (host, rest string, ok bool) {
	if len(p) == 0 || p[0] != '[' {
		i := strings.IndexAny(p, ":/?,")
		if i < 0 {
			i = len(p)
		}
		return p[:i], p[i:], true
	}
	end := strings.IndexByte(p, ']')
	if end < 0 {
		r.fail(errors.New(`end of string reached when looking for matching "]" in IPv6 host address in URI`), p)
		return "", "", false
	}
	if end == 1 {
		r.fail(errors.New("IPv6 host address may not be empty in URI"), p)
		return "", "", false
	}
	host, p = p[1:end], p[end+1:]
	if len(p) > 0 && p[0] != ':' && p[0] != '/' && p[0] != '?' && p[0] != ',' {
		r.fail(errors.New(`unexpected character in URI (expected ":" or "/")`), p)
		return "", "", false
	}
	return host, p, true
}

// readURLDBName reads the database name after a "/", and returns the
// text after it (the query, if any); false when it failed.
func (r *Reading) readURLDBName(p string) (string, bool) {
	if len(p) == 0 || p[0] != '/' {
		return p, true
	}
	db := p[1:]
	p = ""
	if i := strings.IndexByte(db, '?'); i >= 0 {
		p, db = db[i:], db[:i]
	}
	if db != "" {
		v, err := uriDecode(db)
		if err != nil {
			r.fail(err, db+p)
			return "", false
		}
		r.Pairs = append(r.Pairs, Pair{Key: "dbname", Value: v, Raw: db})
	}
	return p, true
}

// readURLQuery reads the query's key=value parameters, those after the
// "?", up to the first that fails.
func (r *Reading) readURLQuery(params string) {
	for params != "" {
		pair := params
		if i := strings.IndexByte(params, '&'); i >= 0 {
			pair, params = params[:i], params[i+1:]
		} else {
			params = ""
		}
		rawKey, rawValue, found := strings.Cut(pair, "=")
		key, err := uriDecode(rawKey)
		if !found || strings.IndexByte(rawValue, '=') >= 0 {
			if err != nil {
				key = rawKey
			}
			r.Pairs = append(r.Pairs, Pair{Key: key, Value: rawValue, Raw: rawValue})
			r.fail(errors.New(`missing or extra key/value separator "=" in URI query parameter`), params)
			return
		}
		if err != nil {
			r.fail(err, pair+"&"+params)
			return
		}
		value, err := uriDecode(rawValue)
		if err != nil {
			r.Pairs = append(r.Pairs, Pair{Key: key, Value: rawValue, Raw: rawValue})
			r.fail(err, params)
			return
		}
		r.Pairs = append(r.Pairs, Pair{Key: key, Value: value, Raw: rawValue})
	}
}
