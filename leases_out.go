package sqlitepool

import (
	"fmt"
	"slices"
	"strings"
)

// outLocked describes the leases still out, for the errors of a Close or
// an Open that waits for them: how many, of which role, and where they were
// taken, when a logger made the pool record it.
func (p *pool) outLocked() string {
	w, r := p.writer.inUse, p.readers.inUse
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s still out", w+r, plural(w+r, "lease", "leases"))
	if x := p.gate.cur; x != nil && x.sent {
		b.WriteString(" (an Exclusive section holds every connection; it ends when its fn returns)")
		return b.String()
	}
	var roles []string
	if w > 0 {
		roles = append(roles, "the writer")
	}
	if r > 0 {
		roles = append(roles, fmt.Sprintf("%d %s", r, plural(r, "reader", "readers")))
	}
	fmt.Fprintf(&b, " (%s", strings.Join(roles, " and "))
	if p.cfg.logger == nil {
		b.WriteString("; run with WithLogger to see where they were taken)")
		return b.String()
	}
	var where []string
	for c := range p.conns {
		if c.caller != "" && !slices.Contains(p.slotsFor(c.role).idle, c) {
			where = append(where, c.role.String()+" taken at "+c.caller)
		}
	}
	slices.Sort(where)
	if len(where) > 0 {
		b.WriteString(": " + strings.Join(where, ", "))
	}
	b.WriteString(")")
	return b.String()
}

// out is outLocked for a caller without p.mu.
func (p *pool) out() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.outLocked()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
