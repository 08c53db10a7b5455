package core

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// TestJudgeSession: under SECUREPG_FORBID_SUPERUSER a session passes only
// when the role is no superuser, no member of one, no member of a role
// that reaches the server's operating system, and has no CREATEROLE
// before PostgreSQL 16; facts not gathered fail closed. Each finding says
// why in its Detail.
func TestJudgeSession(t *testing.T) {
	p := DefaultPolicy()
	p.ForbidSuperuser = true
	plain := func(edit func(r *RoleFacts)) *RoleFacts {
		r := &RoleFacts{ServerVersion: 150014}
		if edit != nil {
			edit(r)
		}
		return r
	}
	for _, tc := range []struct {
		name    string
		f       Facts
		reasons []string
		detail  string
	}{
		{"plain role", Facts{Superuser: "off", Role: plain(nil)}, nil, ""},
		{"is_superuser=on", Facts{Superuser: "on"}, []string{ReasonSuperuserSession}, "is_superuser=on"},
		{"rolsuper behind a pooler", Facts{Role: plain(func(r *RoleFacts) { r.Superuser, r.ExecuteServerProgram = true, true })}, []string{ReasonSuperuserSession}, "is_superuser=on"},
		{"not reported, not asked", Facts{}, []string{ReasonSuperuserSession}, "did not report is_superuser"},
		{"role not read", Facts{Superuser: "off"}, []string{ReasonSuperuserSession}, "memberships were not read"},
		{"member of a superuser", Facts{Superuser: "off", Role: plain(func(r *RoleFacts) { r.SuperuserMember = true })}, []string{ReasonSuperuserSession}, "SET ROLE"},
		{"execute program", Facts{Superuser: "off", Role: plain(func(r *RoleFacts) { r.ExecuteServerProgram = true })}, []string{ReasonPrivilegedRole}, "TO/FROM PROGRAM"},
		{"read files", Facts{Superuser: "off", Role: plain(func(r *RoleFacts) { r.ReadServerFiles = true })}, []string{ReasonPrivilegedRole}, "pg_read_server_files"},
		{"write files", Facts{Superuser: "off", Role: plain(func(r *RoleFacts) { r.WriteServerFiles = true })}, []string{ReasonPrivilegedRole}, "pg_write_server_files"},
		{"createrole on 15", Facts{Superuser: "off", Role: plain(func(r *RoleFacts) { r.CreateRole = true })}, []string{ReasonPrivilegedRole}, "CREATEROLE on PostgreSQL 15"},
		{"createrole on 9.6", Facts{Superuser: "off", Role: plain(func(r *RoleFacts) { r.CreateRole, r.ServerVersion = true, 90624 })}, []string{ReasonPrivilegedRole}, "PostgreSQL 9.6"},
		{"createrole on 16", Facts{Superuser: "off", Role: plain(func(r *RoleFacts) { r.CreateRole, r.ServerVersion = true, 160000 })}, nil, ""},
		{"member and files, superuser first", Facts{Superuser: "off", Role: plain(func(r *RoleFacts) { r.SuperuserMember, r.WriteServerFiles = true, true })},
			[]string{ReasonSuperuserSession, ReasonPrivilegedRole}, "SET ROLE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := JudgeSession(p, tc.f)
			var got []string
			for _, v := range vs {
				got = append(got, v.Reason)
				if !strings.Contains(v.Detail, EnvForbidSuperuser) || v.Fix == "" {
					t.Errorf("%q: no policy named or no fix", v.Error())
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.reasons, ",") {
				t.Fatalf("reasons %v, want %v (%v)", got, tc.reasons, vs)
			}
			if len(vs) > 0 && !strings.Contains(vs[0].Detail, tc.detail) {
				t.Fatalf("detail %q, want it to say %q", vs[0].Detail, tc.detail)
			}
		})
	}
	if vs := JudgeSession(DefaultPolicy(), Facts{Superuser: "on"}); vs != nil {
		t.Errorf("without the policy: %v", vs)
	}
}

// TestParseRoleFacts: one well-formed row, else an error.
func TestParseRoleFacts(t *testing.T) {
	r, err := ParseRoleFacts([][]string{{"f", "t", "t", "f", "t", "f", "150014", "", "", "f"}})
	if err != nil {
		t.Fatal(err)
	}
	want := RoleFacts{CreateRole: true, ExecuteServerProgram: true, WriteServerFiles: true, ServerVersion: 150014}
	if *r != want {
		t.Fatalf("%+v, want %+v", *r, want)
	}
	for _, rows := range [][][]string{
		nil,
		{{"f", "f", "f", "f", "f", "f", "150014", "", "", "f"}, {"f", "f", "f", "f", "f", "f", "150014", "", "", "f"}},
		{{"f", "f", "f", "f", "f", "f"}},
		{{"f", "f", "f", "", "f", "f", "150014", "", "", "f"}},
		{{"f", "f", "f", "f", "f", "f", "x", "", "", "f"}},
		{{"f", "f", "f", "f", "f", "true", "150014", "", "", "f"}},
	} {
		if r, err := ParseRoleFacts(rows); err == nil {
			t.Errorf("%q: %+v, want an error", rows, r)
		}
	}
}

// wireServer answers one simple Query with prepared bytes.
type wireServer struct {
	sent  bytes.Buffer
	reply *bytes.Reader
}

func (s *wireServer) Write(p []byte) (int, error) { return s.sent.Write(p) }
func (s *wireServer) Read(p []byte) (int, error) {
	// One byte at a time: the answer is parsed across reads.
	return s.reply.Read(p[:1])
}

func message(typ byte, body []byte) []byte {
	m := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(m[1:], uint32(4+len(body)))
	return append(m, body...)
}

func dataRowMessage(cols ...string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(cols)))
	for _, c := range cols {
		b = binary.BigEndian.AppendUint32(b, uint32(len(c)))
		b = append(b, c...)
	}
	return message('D', b)
}

// TestAskRoleWire: the query a listener's session is asked on its own
// connection, and the answer read up to ReadyForQuery: a row, an error
// (escaped), a malformed row.
func TestAskRoleWire(t *testing.T) {
	ready := message('Z', []byte{'I'})
	row := dataRowMessage("f", "f", "t", "f", "f", "f", "180004", "lo_export", "", "f")
	for _, tc := range []struct {
		name  string
		reply []byte
		want  *RoleFacts
		err   string
	}{
		{"row", bytes.Join([][]byte{message('T', []byte{0, 0}), message('N', []byte("Mnotice\x00\x00")), row, message('C', []byte("SELECT 1\x00")), ready}, nil),
			&RoleFacts{ExecuteServerProgram: true, ServerVersion: 180004, FileFunctions: "lo_export"}, ""},
		{"error", bytes.Join([][]byte{message('E', []byte("SERROR\x00C42501\x00Mdenied \x1b[2J\x00\x00")), ready}, nil), nil, `denied \x1b[2J`},
		{"malformed row", bytes.Join([][]byte{message('D', []byte{0, 7, 0, 0, 0, 9, 't'}), ready}, nil), nil, ""},
		{"no row", ready, nil, ""},
		{"cut", row, nil, "EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &wireServer{reply: bytes.NewReader(tc.reply)}
			r, err := AskRoleWire(s)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (r == nil) != (tc.want == nil) || r != nil && *r != *tc.want {
				t.Fatalf("%+v, want %+v", r, tc.want)
			}
			if want := message('Q', append([]byte(RoleFactsSQL), 0)); !bytes.Equal(s.sent.Bytes(), want) {
				t.Fatalf("sent %q", s.sent.Bytes())
			}
		})
	}
}
