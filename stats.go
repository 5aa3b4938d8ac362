package sqlitepool

import "time"

// Stats is a snapshot of a pool, from [Handle.Stats].
type Stats struct {
	// Name is the database name given to the Open that created the pool.
	Name string
	// Handles is the number of open handles sharing the pool.
	Handles int
	// Writer describes the writer connection.
	Writer RoleStats
	// Readers describes the reader connections.
	Readers RoleStats
	// Exclusive describes the [Handle.Exclusive] calls. Acquires queued
	// behind an Exclusive count in their role's Waiting.
	Exclusive ExclusiveStats
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
	// Timeouts counts acquires ended by a deadline: the context's, or the
	// acquire timeout.
	Timeouts uint64
	// Cancels counts acquires ended by a cancelled context.
	Cancels uint64

	// Created counts connections opened, the writer of a new pool included.
	Created uint64
	// Closed counts connections closed: broken on release, or at pool close.
	Closed uint64
	// RollbacksOnRelease counts leases released with a transaction still
	// open, which the pool rolled back.
	RollbacksOnRelease uint64
}

func (s *slots) statsLocked() RoleStats {
	return RoleStats{
		Max:                s.max,
		Open:               s.open,
		InUse:              s.inUse,
		Idle:               len(s.idle),
		Waiting:            s.waiters.len(),
		Acquires:           s.count.acquires,
		Waits:              s.count.waits,
		WaitTime:           s.count.waitTime,
		Timeouts:           s.count.timeouts,
		Cancels:            s.count.cancels,
		Created:            s.count.created,
		Closed:             s.count.closed,
		RollbacksOnRelease: s.count.rollbacks,
	}
}

func (p *pool) stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := Stats{
		Name:    p.t.name,
		Writer:  p.writer.statsLocked(),
		Readers: p.readers.statsLocked(),
	}
	p.gateStatsLocked(&st)
	return st
}
