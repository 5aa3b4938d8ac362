package sqlitepool

import "time"

// Stats is a snapshot of a pool, from [Handle.Stats].
type Stats struct {
	// Name is the database name given to the Open that created the pool.
	Name string
	// Handles is the number of open handles sharing the pool.
	Handles int
	// ReadOnly reports a pool opened [WithReadOnly]: it has no writer
	// (Writer.Max is 0) and runs no checkpoint.
	ReadOnly bool
	// Writer describes the writer connection.
	Writer RoleStats
	// Readers describes the reader connections.
	Readers RoleStats
	// Exclusive describes the [Handle.Exclusive] calls. Acquires queued
	// behind an Exclusive count in their role's Waiting.
	Exclusive ExclusiveStats
	// WAL describes the write-ahead log and the pool's checkpoints.
	WAL WALStats
	// Optimizes counts the PRAGMA optimize runs (see [WithOptimize]).
	Optimizes uint64
	// SameContextWaits counts the waits for the writer that lasted a
	// second (or the [WithSlowAcquire] threshold, if shorter) while a
	// lease taken with the very same context held it: most likely a call
	// nested in Write given the outer ctx instead of the one fn received,
	// which waits forever (see [Handle.Write]); or goroutines sharing one
	// context. Each is logged with both call sites when a logger is set.
	SameContextWaits uint64
	// SQLTxWaits counts the other waits for the writer that lasted as
	// long while a [database/sql.Tx] of the pool's *sql.DB held it: a
	// goroutine that calls db.Exec (or a query that writes) while its own
	// Tx is open, with a context other than the Tx's, waits forever; or
	// another goroutine waits for a long Tx. Each is logged when a logger
	// is set.
	SQLTxWaits uint64
	// Parked reports that the pool is parked: its connections and its
	// background goroutine are closed until the next lease (see
	// [WithParkAfter] and [SetMaxConnections]).
	Parked bool
	// Parks counts the times the pool parked.
	Parks uint64
	// LeakedLeases counts the leases of [Handle.Reader] and [Handle.Writer]
	// that the garbage collector found unreachable without Release; the pool
	// closed their connections (see [Lease]). Any is a bug in the program:
	// run with [WithLogger] to see where they were taken.
	LeakedLeases uint64
}

// WALStats describes a pool's write-ahead log.
type WALStats struct {
	// Policy is the [WALPolicy] in force.
	Policy WALPolicy
	// Size is the -wal file's size in bytes now (0 for in-memory
	// databases, and when no WAL file exists).
	Size int64
	// Checkpoints counts the checkpoints the pool ran to completion.
	Checkpoints uint64
	// CheckpointsBusy counts the truncating checkpoints that readers of old
	// snapshots, the pool's or another process's, kept from finishing
	// within the checkpoint timeout.
	CheckpointsBusy uint64
	// CheckpointsYielded counts the pool's passive checkpoints that found
	// another process checkpointing the WAL (a replicator's own checkpoint)
	// and left the copy to it. A passive checkpoint waits for no reader:
	// only another checkpoint under way keeps it from running.
	CheckpointsYielded uint64
	// BytesReclaimed is how much the pool's checkpoints shrank the -wal file,
	// in total.
	BytesReclaimed int64
	// Frames counts the frames (pages) appended to the WAL, as a WAL hook
	// sees them at each commit of the writer: frames another process
	// appended count at the pool's next commit, and at its first, those
	// the WAL already held. Always 0 under [WALSQLite], whose automatic
	// checkpoint is SQLite's own WAL hook, and for in-memory databases.
	Frames uint64
	// Restarts counts the times a commit found that the WAL had started
	// over from its beginning, after a checkpoint copied it all back (the
	// pool's truncations count in Checkpoints instead). Under
	// [WALExternal], Frames growing while Restarts stays put means that
	// nothing checkpoints the WAL: the replicator stopped, or none runs.
	Restarts uint64
}

// Replacements counts connections the pool closed before it closed
// itself, by reason; a new connection opens in their place on demand.
type Replacements struct {
	// Idle counts readers closed after the idle timeout, and idle
	// connections closed to make room under [SetMaxConnections]
	// (connections closed by a park count only in Closed).
	Idle uint64
	// Lifetime counts connections closed at the end of their lifetime.
	Lifetime uint64
	// Broken counts connections closed because an error showed them
	// unusable (I/O error, corruption), their clean-up on release failed,
	// or their lease was dropped without Release (see [Lease]).
	Broken uint64
}

// RoleStats describes the connections of one role. Counters are cumulative
// since the pool was created.
type RoleStats struct {
	// Max is the most connections of this role the pool opens.
	Max int
	// Open is the connections open now, including any being opened.
	Open int
	// InUse is the connections leased now, including any being opened.
	InUse int
	// Idle is the connections open and waiting for a lease.
	Idle int
	// Waiting is the acquires waiting now.
	Waiting int

	// Acquires counts acquires that reached the pool (not those refused
	// because the handle was closed or the context already done).
	Acquires uint64
	// Waits counts acquires that found every connection in use and queued.
	Waits uint64
	// WaitTime is the total time acquires spent queued.
	WaitTime time.Duration
	// MaxWait is the longest time one acquire spent queued.
	MaxWait time.Duration
	// Timeouts counts acquires ended by a deadline: the context's, or the
	// acquire timeout.
	Timeouts uint64
	// Cancels counts acquires ended by a cancelled context.
	Cancels uint64

	// Created counts connections opened, the writer of a new pool included.
	Created uint64
	// Closed counts connections closed: replaced, or at pool close.
	Closed uint64
	// Replaced counts the connections closed early, by reason.
	Replaced Replacements
	// RollbacksOnRelease counts leases released with a transaction still
	// open, which the pool rolled back.
	RollbacksOnRelease uint64
}

func (s *slots) statsLocked() RoleStats {
	return RoleStats{
		Max:      s.max,
		Open:     s.open,
		InUse:    s.inUse,
		Idle:     len(s.idle),
		Waiting:  s.waiters.len(),
		Acquires: s.count.acquires,
		Waits:    s.count.waits,
		WaitTime: time.Duration(s.count.waitTime.Load()),
		MaxWait:  time.Duration(s.count.maxWait.Load()),
		Timeouts: s.count.timeouts,
		Cancels:  s.count.cancels,
		Created:  s.count.created,
		Closed:   s.count.closed,
		Replaced: Replacements{
			Idle:     s.count.replaced[reasonIdle],
			Lifetime: s.count.replaced[reasonLifetime],
			Broken:   s.count.replaced[reasonBroken],
		},
		RollbacksOnRelease: s.count.rollbacks,
	}
}

func (p *pool) stats() Stats {
	size := p.walSize() // a stat of the file: outside the lock
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Stats{
		Name:     p.t.name,
		ReadOnly: p.cfg.readOnly,
		Writer:   p.writer.statsLocked(),
		Readers:  p.readers.statsLocked(),
	}
	p.gateStatsLocked(&st)
	st.WAL = WALStats{
		Policy:             p.cfg.walPolicy,
		Size:               size,
		Checkpoints:        p.wal.checkpoints,
		CheckpointsBusy:    p.wal.busy,
		CheckpointsYielded: p.wal.yielded,
		BytesReclaimed:     p.wal.reclaimed,
		Frames:             p.wal.appended.Load(),
		Restarts:           uint64(p.wal.restarts.Load()),
	}
	st.Optimizes = p.optimizeRuns
	st.SameContextWaits = p.selfWaits.Load()
	st.SQLTxWaits = p.sqlTxWaits.Load()
	st.LeakedLeases = p.leaked
	st.Parked = p.parking.parked
	st.Parks = p.parking.parks
	return st
}
