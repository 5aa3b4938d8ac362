package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/sqlitepool/sqlitepool/examples/sqlcserver/store"
)

const (
	clients   = 8 // concurrent demo clients
	perClient = 5 // todos each creates
)

// runDemo drives the server at url as a few clients would, all at once,
// and prints what they got.
func runDemo(ctx context.Context, out io.Writer, url string) error {
	c := &client{ctx: ctx, url: url, http: &http.Client{Transport: &http.Transport{}}}
	defer c.http.CloseIdleConnections()

	// Clients create todos concurrently, each completing every other one
	// it made: writes from many goroutines queue for the pool's writer.
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Go(func() {
			for j := range perClient {
				var todo store.Todo
				body := fmt.Sprintf(`{"title": "task %d of client %d"}`, j, i)
				if err := c.do("POST", "/todos", body, http.StatusCreated, &todo); err != nil {
					errs <- err
					return
				}
				if j%2 == 0 {
					if err := c.do("POST", fmt.Sprintf("/todos/%d/done", todo.ID), "", http.StatusOK, &todo); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Fprintf(out, "%d clients created %d todos at once\n", clients, clients*perClient)

	var first store.Todo
	if err := c.do("GET", "/todos/1", "", http.StatusOK, &first); err != nil {
		return err
	}
	fmt.Fprintf(out, "todo 1: done %v, done_at set %v\n", first.Done, first.DoneAt != nil)
	if err := c.do("POST", "/todos/1/done", "", http.StatusConflict, nil); err != nil {
		return err
	}
	fmt.Fprintln(out, "completing todo 1 again: 409 Conflict")
	if err := c.do("GET", "/todos/999", "", http.StatusNotFound, nil); err != nil {
		return err
	}
	fmt.Fprintln(out, "todo 999: 404 Not Found")
	var counts store.CountsRow
	if err := c.do("GET", "/counts", "", http.StatusOK, &counts); err != nil {
		return err
	}
	fmt.Fprintf(out, "counts: %d todos, %d done, %d completions counted\n", counts.Todos, counts.Done, counts.Completions)
	return nil
}

// client sends the demo's requests.
type client struct {
	ctx  context.Context
	url  string
	http *http.Client // its own, so that its idle connections close with the demo
}

// do sends a request, checks its status and decodes the JSON reply into v
// (unless nil).
func (c *client) do(method, path, body string, want int, v any) error {
	req, err := http.NewRequestWithContext(c.ctx, method, c.url+path, bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s (%s), want %d", method, path, resp.Status, bytes.TrimSpace(data), want)
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(data, v)
}
