package main

import (
	"context"
	"database/sql"
	_ "embed"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/sqlitepool/sqlitepool"
	"github.com/sqlitepool/sqlitepool/examples/sqlcserver/store"
)

//go:embed schema.sql
var schema string

// initDB creates the tables when they are missing; it runs once per pool,
// on the writer, before OpenDB returns.
func initDB(ctx context.Context, c *sqlitepool.Conn) error {
	return c.Exec(schema)
}

// server answers the todo API with sqlc's generated queries on a *sql.DB
// from sqlitepool.OpenDB.
type server struct {
	db *sql.DB
	q  *store.Queries
}

func newServer(db *sql.DB) http.Handler {
	s := &server{db: db, q: store.New(db)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /todos", s.create)
	mux.HandleFunc("GET /todos", s.list)
	mux.HandleFunc("GET /todos/{id}", s.get)
	mux.HandleFunc("POST /todos/{id}/done", s.complete)
	mux.HandleFunc("GET /counts", s.counts)
	return mux
}

// create inserts a todo: INSERT ... RETURNING reaches the pool's writer
// although it is a query (QueryRowContext).
func (s *server) create(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Title string `json:"title"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Title == "" {
		http.Error(w, `want {"title": "..."}`, http.StatusBadRequest)
		return
	}
	todo, err := s.q.CreateTodo(r.Context(), store.CreateTodoParams{Title: in.Title, CreatedAt: time.Now().UTC()})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	reply(w, http.StatusCreated, todo)
}

// get reads one todo on a reader; a missing one is sql.ErrNoRows.
func (s *server) get(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	todo, err := s.q.GetTodo(r.Context(), id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		http.Error(w, "no such todo", http.StatusNotFound)
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	default:
		reply(w, http.StatusOK, todo)
	}
}

// list returns up to ?limit= todos (100 by default).
func (s *server) list(w http.ResponseWriter, r *http.Request) {
	limit := int64(100)
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			http.Error(w, "bad limit", http.StatusBadRequest)
			return
		}
		limit = n
	}
	todos, err := s.q.ListTodos(r.Context(), limit)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if todos == nil {
		todos = []store.Todo{}
	}
	reply(w, http.StatusOK, todos)
}

var (
	errNoTodo   = errors.New("no such todo")
	errDoneTodo = errors.New("todo already done")
)

// complete marks a todo done and counts it, in one transaction: BeginTx
// holds the pool's writer (BEGIN IMMEDIATE) until Commit, so the two
// writes land together or not at all, and no other writer gets between.
func (s *server) complete(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	todo, err := s.completeTx(r.Context(), id)
	switch {
	case errors.Is(err, errNoTodo):
		http.Error(w, err.Error(), http.StatusNotFound)
	case errors.Is(err, errDoneTodo):
		http.Error(w, err.Error(), http.StatusConflict)
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	default:
		reply(w, http.StatusOK, todo)
	}
}

func (s *server) completeTx(ctx context.Context, id int64) (todo store.Todo, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return todo, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback())
		}
	}()
	q := s.q.WithTx(tx)
	now := time.Now().UTC()
	n, err := q.CompleteTodo(ctx, store.CompleteTodoParams{DoneAt: &now, ID: id})
	if err != nil {
		return todo, err
	}
	// Read inside the transaction: it sees its own update.
	todo, err = q.GetTodo(ctx, id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return todo, errNoTodo
	case err != nil:
		return todo, err
	case n == 0:
		return todo, errDoneTodo
	}
	if err := q.BumpCounter(ctx, "completed"); err != nil {
		return todo, err
	}
	return todo, tx.Commit()
}

// counts reports the totals in one query.
func (s *server) counts(w http.ResponseWriter, r *http.Request) {
	c, err := s.q.Counts(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	reply(w, http.StatusOK, c)
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "bad id", http.StatusBadRequest)
		return 0, false
	}
	return id, true
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
