package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// server is an examples/httpserver process started by -serve.
type server struct {
	url  string
	cmd  *exec.Cmd
	done chan error
	tmp  string
}

// startServer builds examples/httpserver in cfg.serve, starts it on a free
// port and waits for its "listening on" line.
func startServer(ctx context.Context, cfg *config) (*server, error) {
	tmp, err := os.MkdirTemp("", "loadgen-")
	if err != nil {
		return nil, err
	}
	s := &server{tmp: tmp, done: make(chan error, 1)}
	bin := filepath.Join(tmp, "httpserver")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./examples/httpserver")
	build.Dir, build.Stderr = cfg.serve, os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("build examples/httpserver in %s: %w", cfg.serve, err)
	}
	db := cfg.db
	if db == "" {
		db = filepath.Join(tmp, "users.db")
	}
	s.cmd = exec.Command(bin, "-addr", "127.0.0.1:0", "-db", db, "-users", fmt.Sprint(cfg.users))
	s.cmd.Stderr = os.Stderr
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if url, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				lines <- url
			}
		}
		s.done <- s.cmd.Wait()
	}()
	select {
	case s.url = <-lines:
		return s, nil
	case err := <-s.done:
		os.RemoveAll(tmp)
		return nil, errors.Join(errors.New("examples/httpserver ended before listening"), err)
	case <-time.After(30 * time.Second):
		s.stop()
		return nil, errors.New("examples/httpserver did not start listening in 30 s")
	}
}

// stop interrupts the server (it shuts down and closes its pool) and
// removes its files.
func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	os.RemoveAll(s.tmp)
}
