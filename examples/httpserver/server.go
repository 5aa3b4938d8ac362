package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/ncruces/go-sqlite3"

	"github.com/sqlitepool/sqlitepool"
)

// user is the JSON a request returns.
type user struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

const userByID = `SELECT id, name, email FROM users WHERE id = ?`

// initDB creates the users table and, when it is empty, n users.
func initDB(n int) sqlitepool.InitFunc {
	return func(ctx context.Context, c *sqlitepool.Conn) error {
		err := c.Exec(`CREATE TABLE IF NOT EXISTS users(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, created_at INTEGER NOT NULL)`)
		if err != nil {
			return err
		}
		return c.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < ?)
INSERT INTO users SELECT i, 'user ' || i, 'user' || i || '@example.com', 1600000000 + i FROM n
WHERE NOT EXISTS (SELECT 1 FROM users)`, n)
	}
}

// newServer routes /users/{id} to the pool and /open/users/{id} to a
// connection opened for the request; path is the database h has open.
func newServer(h *sqlitepool.Handle, path string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		respond(w, r, func(id int64) (u user, err error) {
			err = h.QueryRow(r.Context(), userByID, id).Scan(&u.ID, &u.Name, &u.Email)
			if errors.Is(err, sqlitepool.ErrNoRows) {
				err = errNotFound
			}
			return u, err
		})
	})
	mux.HandleFunc("GET /open/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		respond(w, r, func(id int64) (user, error) { return openAndQuery(path, id) })
	})
	return mux
}

var errNotFound = errors.New("no such user")

// respond parses the id, looks the user up with get and writes it as JSON.
func respond(w http.ResponseWriter, r *http.Request, get func(id int64) (user, error)) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "bad id", http.StatusBadRequest)
		return
	}
	u, err := get(id)
	switch {
	case errors.Is(err, errNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(u)
}

// openAndQuery is the seeds' "without pool": open, set the busy timeout and
// WAL, query, close.
func openAndQuery(path string, id int64) (u user, err error) {
	c, err := sqlite3.OpenFlags(path, sqlite3.OPEN_READWRITE)
	if err != nil {
		return u, err
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	if err := c.Exec("PRAGMA busy_timeout=5000; PRAGMA journal_mode=WAL"); err != nil {
		return u, err
	}
	stmt, _, err := c.Prepare(userByID)
	if err != nil {
		return u, err
	}
	defer stmt.Close()
	stmt.BindInt64(1, id)
	if !stmt.Step() {
		if err := stmt.Err(); err != nil {
			return u, err
		}
		return u, errNotFound
	}
	return user{ID: stmt.ColumnInt64(0), Name: stmt.ColumnText(1), Email: stmt.ColumnText(2)}, nil
}
