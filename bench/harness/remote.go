package harness

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
)

// The wazero child and its parent exchange one JSON line each way per cell:
// a Spec in, a reply out.
type reply struct {
	Round *Round `json:"round,omitempty"`
	Err   string `json:"err,omitempty"`
}

// Serve runs the cells that arrive on r, one JSON Spec a line, with c and
// writes a reply line for each to w, until r ends.
func Serve(ctx context.Context, r io.Reader, w io.Writer, c Contender) error {
	in := bufio.NewScanner(r)
	in.Buffer(make([]byte, 64<<10), 1<<20)
	enc := json.NewEncoder(w)
	for in.Scan() {
		var spec Spec
		var rep reply
		if err := json.Unmarshal(in.Bytes(), &spec); err != nil {
			rep.Err = err.Error()
		} else if rep.Round, err = c.Run(ctx, spec); err != nil {
			rep.Err = err.Error()
		}
		if err := enc.Encode(rep); err != nil {
			return err
		}
	}
	return in.Err()
}

// Remote is a contender that runs in a child process serving [Serve]: the
// child is started once and runs every cell, so that its start-up (for
// wazero, compiling SQLite) stays out of every measurement.
type Remote struct {
	label string
	cmd   *exec.Cmd
	mu    sync.Mutex // protects the pipes: one cell at a time
	in    io.WriteCloser
	out   *bufio.Scanner
}

// StartRemote starts cmd, which must run Serve on its standard input and
// output.
func StartRemote(label string, cmd *exec.Cmd) (*Remote, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	return &Remote{label: label, cmd: cmd, in: in, out: sc}, nil
}

// Name implements Contender.
func (r *Remote) Name() string { return r.label }

// Run implements Contender: it sends spec to the child and waits for the
// round. ctx is not passed on; the child's cell ends on its own after
// spec's durations.
func (r *Remote) Run(ctx context.Context, spec Spec) (*Round, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	if _, err := r.in.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("%s: send cell: %w", r.label, err)
	}
	if !r.out.Scan() {
		return nil, fmt.Errorf("%s: child ended: %w", r.label, errors.Join(r.out.Err(), io.ErrUnexpectedEOF))
	}
	var rep reply
	if err := json.Unmarshal(r.out.Bytes(), &rep); err != nil {
		return nil, fmt.Errorf("%s: reply: %w", r.label, err)
	}
	if rep.Err != "" {
		return nil, fmt.Errorf("%s: %s", r.label, rep.Err)
	}
	return rep.Round, nil
}

// Close ends the child: its input closes, Serve returns, and the process
// exits.
func (r *Remote) Close() error {
	r.in.Close()
	return r.cmd.Wait()
}
