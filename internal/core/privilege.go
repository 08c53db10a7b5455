package core

import (
	"errors"
	"strconv"
)

// ReasonPrivilegedRole: the session's role can reach the server's
// operating system, or grant itself a role that can, under
// SECUREPG_FORBID_SUPERUSER.
const ReasonPrivilegedRole = "privileged_role"

// RoleFacts is what the session's role can become, as the server answered
// RoleFactsSQL.
// Memberships count through any chain of roles, NOINHERIT ones included
// (SET ROLE still works).
type RoleFacts struct {
	Superuser            bool // rolsuper
	SuperuserMember      bool // a member of a superuser role
	ExecuteServerProgram bool // a member of pg_execute_server_program
	ReadServerFiles      bool // a member of pg_read_server_files
	WriteServerFiles     bool // a member of pg_write_server_files
	CreateRole           bool // rolcreaterole
	ServerVersion        int  // server_version_num, e.g. 150014
	// FileFunctions: the functions that read or write the server's files
	// the role may execute (granted one by one), comma-separated.
	FileFunctions string
	// AlterSystem: the parameters the role may ALTER SYSTEM SET
	// (PostgreSQL 15), comma-separated; "SET session_preload_libraries":
	// the role may SET it, and so load a library into its sessions.
	AlterSystem string
	// Replication: rolreplication. A base backup copies pg_authid's
	// password hashes (an MD5 hash logs in as its superuser).
	Replication bool
}

// RoleFactsSQL asks, in one round trip, everything JudgeSession needs
// about the session user (a session can always RESET ROLE to it).
// pg_has_role(..., 'MEMBER') follows NOINHERIT memberships too; the
// attributes and function grants of every role it can SET ROLE to count
// (has_function_privilege follows inherited privileges only).
const RoleFactsSQL = "SELECT r.rolsuper, " +
	"EXISTS (SELECT 1 FROM pg_catalog.pg_roles m WHERE m.rolcreaterole AND (m.oid = r.oid OR NOT m.rolsuper) AND pg_catalog.pg_has_role(r.oid, m.oid, 'MEMBER')), " +
	"EXISTS (SELECT 1 FROM pg_catalog.pg_roles g WHERE g.rolname = 'pg_execute_server_program' AND pg_catalog.pg_has_role(r.oid, g.oid, 'MEMBER')), " +
	"EXISTS (SELECT 1 FROM pg_catalog.pg_roles g WHERE g.rolname = 'pg_read_server_files' AND pg_catalog.pg_has_role(r.oid, g.oid, 'MEMBER')), " +
	"EXISTS (SELECT 1 FROM pg_catalog.pg_roles g WHERE g.rolname = 'pg_write_server_files' AND pg_catalog.pg_has_role(r.oid, g.oid, 'MEMBER')), " +
	"EXISTS (SELECT 1 FROM pg_catalog.pg_roles s WHERE s.rolsuper AND s.oid <> r.oid AND pg_catalog.pg_has_role(r.oid, s.oid, 'MEMBER')), " +
	"pg_catalog.current_setting('server_version_num')::int, " +
	"COALESCE((SELECT pg_catalog.string_agg(DISTINCT p.proname, ',') FROM pg_catalog.pg_proc p " +
	"WHERE (p.pronamespace = 'pg_catalog'::pg_catalog.regnamespace AND p.proname IN " + fileFunctions + " OR p.proname = 'dblink_connect_u') " +
	"AND EXISTS (SELECT 1 FROM pg_catalog.pg_roles m WHERE (m.oid = r.oid OR NOT m.rolsuper) AND pg_catalog.pg_has_role(r.oid, m.oid, 'MEMBER') " +
	"AND pg_catalog.has_function_privilege(m.oid, p.oid, 'EXECUTE'))), ''), " +
	// pg_parameter_acl exists from PostgreSQL 15: asked through
	// query_to_xml, which runs its query only when CASE reaches it.
	"CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 150000 THEN COALESCE((pg_catalog.xpath('/row/p/text()', " +
	"pg_catalog.query_to_xml(pg_catalog.format('SELECT pg_catalog.string_agg(DISTINCT CASE WHEN e.privilege_type = ''SET'' THEN ''SET '' ELSE '''' END || a.parname, '','') AS p " +
	"FROM pg_catalog.pg_parameter_acl a, pg_catalog.aclexplode(a.paracl) e WHERE (e.privilege_type = ''ALTER SYSTEM'' " +
	"OR e.privilege_type = ''SET'' AND a.parname IN " + loadParameters + ") " +
	"AND CASE WHEN e.grantee = 0 THEN true ELSE pg_catalog.pg_has_role(%s::pg_catalog.oid, e.grantee, ''MEMBER'') END', r.oid), " +
	"false, true, '')))[1]::text, '') ELSE '' END, " +
	"EXISTS (SELECT 1 FROM pg_catalog.pg_roles m WHERE m.rolreplication AND (m.oid = r.oid OR NOT m.rolsuper) AND pg_catalog.pg_has_role(r.oid, m.oid, 'MEMBER')) " +
	"FROM pg_catalog.pg_roles r WHERE r.rolname = session_user"

// loadParameters are the parameters whose SET privilege loads code:
// session_preload_libraries loads a shared library from any path. Quoted
// for the query_to_xml text.
const loadParameters = "(''session_preload_libraries'')"

// fileFunctions read, list or write any file the server's operating-system
// user can: a road to the OS as the pg_*_server_* roles are (pg_ls_dir and
// pg_stat_file take any path; pg_monitor's pg_ls_logdir and the like, one
// directory each, are not asked). dblink_connect_u
// (in dblink's schema) is asked too: it connects without dblink's
// password check, back to the server as its OS user (peer or trust).
const fileFunctions = "('lo_import', 'lo_export', 'pg_read_file', 'pg_read_binary_file', 'pg_ls_dir', 'pg_stat_file', 'pg_file_write', 'pg_file_rename', 'pg_file_unlink')"

const roleFactsColumns = 10

var errRoleFacts = errors.New("securepg: the server's answer about the session's role could not be read")

// ParseRoleFacts reads the rows of RoleFactsSQL in PostgreSQL's text
// format. Anything but exactly one well-formed row is an error.
func ParseRoleFacts(rows [][]string) (*RoleFacts, error) {
	if len(rows) != 1 || len(rows[0]) != roleFactsColumns {
		return nil, errRoleFacts
	}
	row := rows[0]
	var flags [roleFactsColumns]bool
	for _, i := range []int{0, 1, 2, 3, 4, 5, 9} { // the booleans
		if row[i] != "t" && row[i] != "f" {
			return nil, errRoleFacts
		}
		flags[i] = row[i] == "t"
	}
	v, err := strconv.Atoi(row[6])
	if err != nil || v <= 0 {
		return nil, errRoleFacts
	}
	return &RoleFacts{Superuser: flags[0], CreateRole: flags[1], ExecuteServerProgram: flags[2],
		ReadServerFiles: flags[3], WriteServerFiles: flags[4], SuperuserMember: flags[5], ServerVersion: v,
		FileFunctions: row[7], AlterSystem: row[8], Replication: flags[9]}, nil
}

// AskRole reports whether a backend must ask RoleFactsSQL: under the
// policy, unless the server already said the role is a superuser.
func AskRole(p Policy, f Facts) bool { return p.ForbidSuperuser && f.Superuser != "on" }

// JudgeSession judges, purely, what the session's role can become under
// SECUREPG_FORBID_SUPERUSER, superuser findings first. Without role facts
// it fails closed.
func JudgeSession(p Policy, f Facts) []*Violation {
	if !p.ForbidSuperuser {
		return nil
	}
	host, r := f.Addr(), f.Role
	switch {
	case f.Superuser == "on" || r != nil && r.Superuser:
		return []*Violation{superuserSession(host, "the session's role is a superuser (is_superuser=on)")}
	case r == nil:
		detail := "the role's memberships were not read, so it cannot be shown not to be a superuser"
		if f.Superuser == "" {
			detail = "the server did not report is_superuser for the session, so it cannot be shown not to be a superuser"
		}
		return []*Violation{superuserSession(host, detail)}
	}
	var vs []*Violation
	if r.SuperuserMember {
		vs = append(vs, superuserSession(host, "the session's role is a member of a superuser role and can SET ROLE to it"))
	}
	for _, c := range []struct {
		has        bool
		role, does string
	}{
		{r.ExecuteServerProgram, "pg_execute_server_program", "COPY ... TO/FROM PROGRAM runs any shell command as the server's operating-system user"},
		{r.ReadServerFiles, "pg_read_server_files", "COPY ... FROM and pg_read_file read any file the server's operating-system user can (its keys, its configuration, every database's files)"},
		{r.WriteServerFiles, "pg_write_server_files", "COPY ... TO writes any file the server's operating-system user can (its configuration, and so code it runs)"},
	} {
		if c.has {
			vs = append(vs, privilegedRole(host, "member of "+c.role, "the session's role is a member of "+c.role+": "+c.does))
		}
	}
	if fns := SafeText(truncate(r.FileFunctions, 200)); fns != "" {
		vs = append(vs, privilegedRole(host, "EXECUTE on "+fns,
			"the session's role may execute "+fns+", which read, list or write any file the server's operating-system user can (dblink_connect_u: log in as it)"))
	}
	if params := SafeText(truncate(r.AlterSystem, 200)); params != "" {
		vs = append(vs, privilegedRole(host, "ALTER SYSTEM on "+params,
			"the session's role may ALTER SYSTEM SET "+params+
				" (SET: with ALTER ROLE ... SET, for its own sessions)"+
				": a parameter such as archive_command is a shell command the server runs as its operating-system user, and others load code"))
	}
	if r.Replication {
		vs = append(vs, privilegedRole(host, "REPLICATION",
			"the session's role has REPLICATION: a base backup copies every file of the cluster, pg_authid's password hashes among them"))
	}
	if r.CreateRole && r.ServerVersion < 160000 {
		vs = append(vs, privilegedRole(host, "CREATEROLE before PostgreSQL 16",
			"the session's role has CREATEROLE on PostgreSQL "+majorVersion(r.ServerVersion)+
				", where it can grant itself any role but superuser, pg_execute_server_program among them (PostgreSQL 16 requires ADMIN OPTION)"))
	}
	return vs
}

func superuserSession(host, detail string) *Violation {
	return &Violation{Reason: ReasonSuperuserSession, Host: host, Got: "superuser", Want: "a role without superuser",
		Detail: detail + ", which " + EnvForbidSuperuser + " forbids",
		Fix:    "connect as a role with only the privileges the service needs"}
}

// RoleUnread is the refusal of a session whose role facts could not be asked for.
func RoleUnread(host string, err error) *Violation {
	v := superuserSession(host, "the role's memberships could not be read, so it cannot be shown not to be a superuser")
	v.Err = err
	return v
}

func privilegedRole(host, got, detail string) *Violation {
	return &Violation{Reason: ReasonPrivilegedRole, Host: host, Got: got, Want: "a role without access to the server's operating system",
		Detail: detail + ", which " + EnvForbidSuperuser + " forbids",
		Fix:    "connect as a role with only the privileges the service needs (REVOKE the role, or ALTER ROLE ... NOCREATEROLE)"}
}

// majorVersion renders a server_version_num's major version: 150014 is "15".
func majorVersion(num int) string {
	if num < 100000 {
		return strconv.Itoa(num/10000) + "." + strconv.Itoa(num/100%100)
	}
	return strconv.Itoa(num / 10000)
}
