package sqlitepool

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ncruces/go-sqlite3/util/vfsutil"
	"github.com/ncruces/go-sqlite3/vfs"
)

// faultVFS wraps the engine's default VFS and fails reads or writes of the
// files of one database on demand: the main file and its WAL. Tests open a
// pool through it with withFaults.
type faultVFS struct{ vfs.VFS }

const faultVFSName = "sqlitepool-fault"

// faults is what the fault VFS injects; set through a test's *faultPlan.
type faultPlan struct {
	prefix string                // the database's path: its files and only those fail
	read   atomic.Pointer[error] // error for every read, or nil
	write  atomic.Pointer[error] // error for every write, or nil
	reads  atomic.Int64          // reads failed
	writes atomic.Int64          // writes failed
	// onWrite, if set, is called before each write: a test's probe.
	onWrite atomic.Pointer[func()]
}

var (
	faultsMu sync.Mutex
	plans    = map[string]*faultPlan{} // by database path
)

var registerFaultVFS = sync.OnceFunc(func() { vfs.Register(faultVFSName, faultVFS{vfs.Find("")}) })

// withFaults opens the pool's files through the fault VFS and returns the
// plan that drives it for path.
func withFaults(t testing.TB, path string) (Option, *faultPlan) {
	t.Helper()
	registerFaultVFS()
	return func(c *config) error { c.vfs = faultVFSName; return nil }, addFaultPlan(t, path)
}

// addFaultPlan drives the fault VFS for the files whose names start with
// prefix, until the test ends; a connection opened through the VFS (see
// withFaults) opens every file through it, attached ones included.
func addFaultPlan(t testing.TB, prefix string) *faultPlan {
	plan := &faultPlan{prefix: prefix}
	faultsMu.Lock()
	plans[prefix] = plan
	faultsMu.Unlock()
	t.Cleanup(func() {
		faultsMu.Lock()
		delete(plans, prefix)
		faultsMu.Unlock()
	})
	return plan
}

func (p *faultPlan) failReads(err error)  { p.read.Store(&err) }
func (p *faultPlan) failWrites(err error) { p.write.Store(&err) }
func (p *faultPlan) heal()                { p.read.Store(nil); p.write.Store(nil) }

func planFor(name string) *faultPlan {
	faultsMu.Lock()
	defer faultsMu.Unlock()
	for path, p := range plans {
		if strings.HasPrefix(name, path) {
			return p
		}
	}
	return nil
}

func (v faultVFS) Open(name string, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	return v.OpenFilename(nil, flags) // the engine calls OpenFilename; a temp file comes here
}

func (v faultVFS) OpenFilename(name *vfs.Filename, flags vfs.OpenFlag) (vfs.File, vfs.OpenFlag, error) {
	f, flags, err := vfsutil.WrapOpenFilename(v.VFS, name, flags)
	if err != nil || name == nil {
		return f, flags, err
	}
	plan := planFor(name.String())
	if plan == nil || flags&(vfs.OPEN_MAIN_DB|vfs.OPEN_WAL) == 0 {
		return f, flags, nil
	}
	return &faultFile{File: f, plan: plan}, flags, nil
}

// faultFile fails reads and writes while its plan says so, and forwards
// everything else, the shared memory of WAL mode included.
type faultFile struct {
	vfs.File
	plan *faultPlan
}

func (f *faultFile) ReadAt(b []byte, off int64) (int, error) {
	if err := f.plan.read.Load(); err != nil {
		f.plan.reads.Add(1)
		return 0, *err
	}
	return f.File.ReadAt(b, off)
}

func (f *faultFile) WriteAt(b []byte, off int64) (int, error) {
	if fn := f.plan.onWrite.Load(); fn != nil {
		(*fn)()
	}
	if err := f.plan.write.Load(); err != nil {
		f.plan.writes.Add(1)
		return 0, *err
	}
	return f.File.WriteAt(b, off)
}

func (f *faultFile) Unwrap() vfs.File                { return f.File }
func (f *faultFile) SharedMemory() vfs.SharedMemory  { return vfsutil.WrapSharedMemory(f.File) }
func (f *faultFile) LockState() vfs.LockLevel        { return vfsutil.WrapLockState(f.File) }
func (f *faultFile) PersistWAL() bool                { return vfsutil.WrapPersistWAL(f.File) }
func (f *faultFile) SetPersistWAL(keep bool)         { vfsutil.WrapSetPersistWAL(f.File, keep) }
func (f *faultFile) HasMoved() (bool, error)         { return vfsutil.WrapHasMoved(f.File) }
func (f *faultFile) SizeHint(size int64) error       { return vfsutil.WrapSizeHint(f.File, size) }
func (f *faultFile) ChunkSize(size int)              { vfsutil.WrapChunkSize(f.File, size) }
func (f *faultFile) CheckpointStart()                { vfsutil.WrapCheckpointStart(f.File) }
func (f *faultFile) CheckpointDone()                 { vfsutil.WrapCheckpointDone(f.File) }
func (f *faultFile) BusyHandler(handler func() bool) { vfsutil.WrapBusyHandler(f.File, handler) }
func (f *faultFile) SyncSuper(super string) error    { return vfsutil.WrapSyncSuper(f.File, super) }
func (f *faultFile) Pragma(name, value string) (string, error) {
	return vfsutil.WrapPragma(f.File, name, value)
}
