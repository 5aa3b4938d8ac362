package harness

import (
	"fmt"
	"math/rand/v2"
)

// Workload names what each operation of a cell does.
type Workload string

// The workloads, in the order tables list them.
const (
	// PointRead reads one user by primary key.
	PointRead Workload = "point-read"
	// JoinAgg joins a post's comments with their authors and aggregates.
	JoinAgg Workload = "join-agg"
	// Insert inserts one like in a transaction of its own.
	Insert Workload = "insert"
	// BatchInsert inserts [BatchSize] likes in one transaction.
	BatchInsert Workload = "batch-insert"
	// Mixed is [PointRead] 90% of the time and [Insert] 10%.
	Mixed Workload = "mixed-90-10"
)

// Workloads lists every workload.
var Workloads = []Workload{PointRead, JoinAgg, Insert, BatchInsert, Mixed}

// ParseWorkload checks a workload name.
func ParseWorkload(s string) (Workload, error) {
	for _, w := range Workloads {
		if string(w) == s {
			return w, nil
		}
	}
	return "", fmt.Errorf("unknown workload %q (have %v)", s, Workloads)
}

// Writes reports whether w writes.
func (w Workload) Writes() bool { return w != PointRead && w != JoinAgg }

// The SQL every contender runs, so that they differ only in how they reach
// the engine. Writes go to likes, which no read touches: the reads stay
// the same however many rows earlier cells inserted.
const (
	SQLPointRead = `SELECT id, name, email, created_at FROM users WHERE id = ?`
	SQLJoinAgg   = `SELECT u.name, count(*) AS n FROM comments c JOIN users u ON u.id = c.user_id
WHERE c.post_id = ? GROUP BY c.user_id ORDER BY n DESC, u.name LIMIT 10`
	SQLInsert = `INSERT INTO likes(post_id, user_id, created_at) VALUES (?, ?, ?)`
)

const (
	// BatchSize is how many rows BatchInsert writes per transaction.
	BatchSize = 100
	// MixedWritePercent is the share of Mixed operations that write.
	MixedWritePercent = 10
)

// User is the row PointRead reads: every contender materializes it, as an
// application would.
type User struct {
	ID        int64
	Name      string
	Email     string
	CreatedAt int64
}

// Like is one row to insert.
type Like struct {
	PostID, UserID, CreatedAt int64
}

// Worker is one goroutine's way to the database. It is used by one
// goroutine only; a pool-based worker leases per operation, a bare one
// owns its connection.
type Worker interface {
	// PointRead reads user id.
	PointRead(id int64) (User, error)
	// JoinAgg runs SQLJoinAgg for a post and returns the rows it read.
	JoinAgg(postID int64) (int, error)
	// Insert inserts rows in one write transaction (BEGIN IMMEDIATE).
	Insert(rows []Like) error
	// Close releases what the worker holds.
	Close() error
}

// picker draws a worker's random keys; each worker has its own, so no
// goroutine waits on a shared source.
type picker struct {
	rng          *rand.Rand
	users, posts int64
	now          int64
	rows         []Like // reused by every insert: no allocation per op
}

func newPicker(seed uint64, worker int, users, posts int64) *picker {
	return &picker{
		rng:   rand.New(rand.NewPCG(seed, uint64(worker))),
		users: users,
		posts: posts,
		now:   1_700_000_000,
		rows:  make([]Like, BatchSize),
	}
}

func (p *picker) user() int64 { return p.rng.Int64N(p.users) + 1 }
func (p *picker) post() int64 { return p.rng.Int64N(p.posts) + 1 }

func (p *picker) likes(n int) []Like {
	rows := p.rows[:n]
	for i := range rows {
		p.now++
		rows[i] = Like{PostID: p.post(), UserID: p.user(), CreatedAt: p.now}
	}
	return rows
}

// do runs one operation of workload w on wk.
func (p *picker) do(w Workload, wk Worker) error {
	switch w {
	case PointRead:
		_, err := wk.PointRead(p.user())
		return err
	case JoinAgg:
		_, err := wk.JoinAgg(p.post())
		return err
	case Insert:
		return wk.Insert(p.likes(1))
	case BatchInsert:
		return wk.Insert(p.likes(BatchSize))
	case Mixed:
		if p.rng.IntN(100) < MixedWritePercent {
			return wk.Insert(p.likes(1))
		}
		_, err := wk.PointRead(p.user())
		return err
	}
	return fmt.Errorf("unknown workload %q", w)
}
