package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sqlitepool/sqlitepool"
	"github.com/sqlitepool/sqlitepool/examples/sqlcserver/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestDemo runs the demo as `go run` does and checks what it prints.
func TestDemo(t *testing.T) {
	var out strings.Builder
	require.NoError(t, run(t.Context(), &out, "", ""))
	require.Equal(t, `8 clients created 40 todos at once
todo 1: done true, done_at set true
completing todo 1 again: 409 Conflict
todo 999: 404 Not Found
counts: 40 todos, 24 done, 24 completions counted
`, out.String())
}

// TestDemoTwice runs the demo twice on one file: init keeps the tables
// and their rows, the second run adds its own.
func TestDemoTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "todos.db")
	require.NoError(t, run(t.Context(), io.Discard, "", path))
	var out strings.Builder
	require.NoError(t, run(t.Context(), &out, "", path))
	require.Contains(t, out.String(), "counts: 80 todos, 48 done, 48 completions counted")
}

// TestRoutes sends each route good and bad requests.
func TestRoutes(t *testing.T) {
	db, err := sqlitepool.OpenDB(filepath.Join(t.TempDir(), "todos.db"), initDB)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	srv := httptest.NewServer(newServer(db))
	defer srv.Close()

	send := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(data)
	}

	before := time.Now()
	code, body := send("POST", "/todos", `{"title": "write the example"}`)
	require.Equal(t, http.StatusCreated, code, body)
	var created store.Todo
	require.NoError(t, json.Unmarshal([]byte(body), &created))
	require.Equal(t, "write the example", created.Title)
	require.False(t, created.Done)
	require.Nil(t, created.DoneAt)
	require.WithinRange(t, created.CreatedAt, before.Add(-time.Second), time.Now().Add(time.Second))

	code, body = send("GET", "/todos/"+itoa(created.ID), "")
	require.Equal(t, http.StatusOK, code, body)
	var got store.Todo
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	require.True(t, got.CreatedAt.Equal(created.CreatedAt), "created_at read back as %v, want %v", got.CreatedAt, created.CreatedAt)

	code, body = send("POST", "/todos/"+itoa(created.ID)+"/done", "")
	require.Equal(t, http.StatusOK, code, body)
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	require.True(t, got.Done)
	require.NotNil(t, got.DoneAt)
	code, _ = send("POST", "/todos/"+itoa(created.ID)+"/done", "")
	require.Equal(t, http.StatusConflict, code, "completing twice")

	code, body = send("GET", "/todos?limit=5", "")
	require.Equal(t, http.StatusOK, code, body)
	var list []store.Todo
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	require.Len(t, list, 1)

	code, body = send("GET", "/counts", "")
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"todos": 1, "done": 1, "completions": 1}`, body)

	for _, bad := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/todos", `{"title": ""}`, http.StatusBadRequest},
		{"POST", "/todos", `not json`, http.StatusBadRequest},
		{"GET", "/todos/x", "", http.StatusBadRequest},
		{"GET", "/todos?limit=0", "", http.StatusBadRequest},
		{"GET", "/todos/42", "", http.StatusNotFound},
		{"POST", "/todos/42/done", "", http.StatusNotFound},
	} {
		code, body := send(bad.method, bad.path, bad.body)
		require.Equal(t, bad.want, code, "%s %s %s: %s", bad.method, bad.path, bad.body, body)
	}
	code, body = send("GET", "/counts", "")
	require.Equal(t, http.StatusOK, code, body)
	require.JSONEq(t, `{"todos": 1, "done": 1, "completions": 1}`, body, "a failed request changed nothing")
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }
