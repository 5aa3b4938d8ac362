package sqlitepool

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// DefaultStmtCacheSize is how many prepared statements each connection keeps
// unless [WithStmtCacheSize] says otherwise.
const DefaultStmtCacheSize = 64

// stmtCache keeps a connection's prepared statements by SQL text, least
// recently used first out. Statements a lease used are tracked so that
// release resets them and clears their bindings; they are never evicted
// while the lease may still hold them.
type stmtCache struct {
	max        int
	byText     map[string]*cachedStmt
	head, tail *cachedStmt     // most and least recently used
	used       []*cachedStmt   // used by the current lease
	adopted    []*sqlite3.Stmt // prepared outside the cache for the lease
}

type cachedStmt struct {
	sql        string
	stmt       *sqlite3.Stmt // nil for an empty SQL text or a script
	script     bool          // the SQL holds several statements: Exec runs it whole
	params     bool          // the statement has parameters, so bindings to clear
	prev, next *cachedStmt
	inUse      bool // listed in stmtCache.used

	// names and kinds are the columns' names and what their declared
	// types say (see columnNames and declKinds), as of the statement's
	// namesAt-th preparation.
	names   []string
	kinds   []declKind
	namesAt int
}

// describe makes e's names and kinds again if SQLite prepared the
// statement again since they were made (after a schema change, which may
// rename, add or retype columns). They are kept with the statement, whose
// cache outlives the queries that run it.
func (e *cachedStmt) describe() {
	at := e.stmt.Status(sqlite3.STMTSTATUS_REPREPARE, false)
	if e.names == nil || e.namesAt != at || len(e.names) != e.stmt.ColumnCount() {
		e.names = columnNames(e.stmt)
		e.kinds = declKinds(e.stmt, nil)
		e.namesAt = at
	}
}

// columnNames returns the names of the columns of e's statement in a slice
// of the caller's own.
func (e *cachedStmt) columnNames() []string {
	e.describe()
	return slices.Clone(e.names)
}

// declKinds returns what the declared types of e's statement's columns
// say, in a slice the caller only reads.
func (e *cachedStmt) declKinds() []declKind {
	e.describe()
	return e.kinds
}

// columnNames returns the names of stmt's columns.
func columnNames(stmt *sqlite3.Stmt) []string {
	names := make([]string, stmt.ColumnCount())
	for i := range names {
		names[i] = stmt.ColumnName(i)
	}
	return names
}

// prepared is Conn.Prep.
func (c *conn) prepared(sql string) (*sqlite3.Stmt, error) {
	e, _, err := c.prep(sql)
	if err != nil {
		return nil, err
	}
	return e.single(c.db, "Prep")
}

// single returns the entry's statement, or the error for SQL that is not
// exactly one statement, naming the call (op) and the database.
func (e *cachedStmt) single(db, op string) (*sqlite3.Stmt, error) {
	switch {
	case e.script:
		return nil, fmt.Errorf("%w: %s on %q: the SQL holds more than one statement; use Exec for scripts", ErrInvalidArgument, op, db)
	case e.stmt == nil:
		return nil, fmt.Errorf("%w: %s on %q: the SQL holds no statement", ErrInvalidArgument, op, db)
	}
	return e.stmt, nil
}

// prep finds or prepares sql, marks it used by the lease and moves it to
// the front. A multi-statement script is cached as an entry without stmt so
// that Exec does not parse it twice to learn that. again reports whether
// the lease had used the statement before: only then can it be running.
func (c *conn) prep(sql string) (e *cachedStmt, again bool, err error) {
	k := &c.cache
	// The statement used last is the likeliest: a loop of the same query
	// skips hashing its text.
	e = k.head
	if e == nil || e.sql != sql {
		e = k.byText[sql]
	}
	if e == nil {
		stmt, tail, err := c.raw.PrepareFlags(sql, sqlite3.PREPARE_PERSISTENT)
		if err != nil {
			return nil, false, c.wrap(err)
		}
		e = &cachedStmt{sql: sql, stmt: stmt, params: stmt != nil && stmt.BindCount() > 0}
		// The rest is not prepared: a later statement of a script may
		// depend on an earlier one (CREATE TABLE t ...; INSERT INTO t ...).
		if stmt != nil && !onlyTrivia(tail) {
			stmt.Close()
			e.stmt, e.script = nil, true
		}
		if k.byText == nil {
			k.byText = make(map[string]*cachedStmt)
		}
		k.byText[sql] = e
		k.pushFront(e)
	} else if k.head != e {
		k.unlink(e)
		k.pushFront(e)
	}
	again = e.inUse
	if !e.inUse && e.stmt != nil {
		e.inUse = true
		k.used = append(k.used, e)
	}
	k.trim()
	return e, again, nil
}

// release resets the statements the lease used, clears their bindings,
// and trims the cache to its size. It returns the last error a reset
// reported: the statement's own, already seen by its user, which tells
// whether the connection broke.
func (k *stmtCache) release() (err error) {
	if len(k.used) == 0 && len(k.adopted) == 0 {
		return nil // the last release left the cache trimmed
	}
	for i, e := range k.used {
		if rerr := e.stmt.Reset(); rerr != nil {
			err = rerr
		}
		if e.params {
			e.stmt.ClearBindings()
		}
		e.inUse = false
		k.used[i] = nil
	}
	k.used = k.used[:0]
	for i, s := range k.adopted {
		s.Close()
		k.adopted[i] = nil
	}
	k.adopted = k.adopted[:0]
	k.trim()
	return err
}

// adopt tracks a statement prepared outside the cache for the lease, so
// that release finalizes it.
func (k *stmtCache) adopt(stmt *sqlite3.Stmt) {
	k.adopted = append(k.adopted, stmt)
}

// trim finalizes least recently used statements beyond max, skipping those
// the lease may still hold.
func (k *stmtCache) trim() {
	for e := k.tail; len(k.byText) > k.max && e != nil; {
		prev := e.prev
		if !e.inUse {
			k.unlink(e)
			delete(k.byText, e.sql)
			if e.stmt != nil {
				e.stmt.Close()
			}
		}
		e = prev
	}
}

func (k *stmtCache) pushFront(e *cachedStmt) {
	e.prev, e.next = nil, k.head
	if k.head != nil {
		k.head.prev = e
	} else {
		k.tail = e
	}
	k.head = e
}

func (k *stmtCache) unlink(e *cachedStmt) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		k.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		k.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// onlyTrivia reports whether s holds no SQL: only blanks, semicolons and
// comments.
func onlyTrivia(s string) bool {
	for s != "" {
		switch {
		case s[0] == ';' || s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r' || s[0] == '\f':
			s = s[1:]
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return true
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s[2:], "*/")
			if i < 0 {
				return true // SQLite ends an unterminated comment at the end
			}
			s = s[i+4:]
		default:
			return false
		}
	}
	return true
}
