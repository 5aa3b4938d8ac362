package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sqlitepool/sqlitepool"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestServer starts the server on a random port and asks both routes for
// a user, one that does not exist, and a malformed id.
func TestServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.db")
	h, err := sqlitepool.Open(path, initDB(50))
	require.NoError(t, err)
	defer func() { require.NoError(t, h.Close()) }()
	srv := httptest.NewServer(newServer(h, path))
	defer srv.Close()

	get := func(route string) (int, string) {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + route)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	for _, prefix := range []string{"/users/", "/open/users/"} {
		t.Run(prefix, func(t *testing.T) {
			code, body := get(prefix + "7")
			require.Equal(t, http.StatusOK, code, body)
			var u user
			require.NoError(t, json.Unmarshal([]byte(body), &u))
			require.Equal(t, user{ID: 7, Name: "user 7", Email: "user7@example.com"}, u)

			code, _ = get(prefix + "51")
			require.Equal(t, http.StatusNotFound, code, "a user past the 50 created")
			code, _ = get(prefix + "x")
			require.Equal(t, http.StatusBadRequest, code, "a malformed id")
		})
	}
}

// TestInitKeepsUsers opens a database twice: the second init adds no
// users to a table that has some.
func TestInitKeepsUsers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.db")
	for range 2 {
		h, err := sqlitepool.Open(path, initDB(10))
		require.NoError(t, err)
		var n int
		require.NoError(t, h.QueryRow(t.Context(), "SELECT count(*) FROM users").Scan(&n))
		require.NoError(t, h.Close())
		require.Equal(t, 10, n)
	}
}
