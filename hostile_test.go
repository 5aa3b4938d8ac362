package sqlitepool

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostileCase is one bad name or option given to Open, and what it must do.
type hostileCase struct {
	name string   // subtest name
	db   string   // the name given to Open, relative to the fixture directory
	opts []Option // options given to Open
	want []error  // the error matches each of these

	// mention is text the error must contain besides the database's name
	// (for options: which option, and its value).
	mention string
	// lazy: Open succeeds, because SQLite reads a page only when a query
	// needs it; the first query that reads a damaged page fails with want.
	lazy bool
	// needs is what the case needs of the fixture beyond plain files:
	// needFIFO or needReadOnly.
	needs string
}

// What a fixture could not make, with why, keyed by need.
const (
	needFIFO     = "FIFO"
	needReadOnly = "read-only file and directory"
)

// preEngine reports whether the case must fail before the engine opens
// anything: a wrong name, option or file type, which Open checks itself.
// Only then is nothing, not even a -wal file that SQLite creates and removes
// again, allowed to touch the directory.
func (tc hostileCase) preEngine() bool {
	for _, w := range tc.want {
		if w == ErrInvalidName || w == ErrInvalidOption || w == ErrNotDatabase {
			return true
		}
	}
	return false
}

// hostileCases is every bad name and option Open must refuse; names are
// relative to dir, made by hostileFixture, or absolute. FuzzResolveName is
// seeded with these names.
func hostileCases(dir string) []hostileCase {
	name := func(n, db string, want ...error) hostileCase {
		return hostileCase{name: n, db: db, want: want}
	}
	// Bad options are given with a name that does not exist yet, so that
	// an Open that went ahead anyway would leave new.db behind.
	opt := func(n, mention string, opts ...Option) hostileCase {
		return hostileCase{name: n, db: "new.db", opts: opts, want: []error{ErrInvalidOption}, mention: mention}
	}
	ro := func(c hostileCase) hostileCase { c.needs = needReadOnly; return c }
	// A damaged header: the error says which field is wrong.
	header := func(n, db, mention string) hostileCase {
		return hostileCase{name: n, db: db, want: []error{ErrNotDatabase}, mention: mention}
	}
	return []hostileCase{
		// Names that cannot name a database file.
		name("empty", "", ErrInvalidName),
		name("nul-byte", "app\x00.db", ErrInvalidName),
		name("nul-byte-after-good-name", "good.db\x00", ErrInvalidName),
		name("nul-byte-escaped-in-uri", "file:good.db%00", ErrInvalidName),
		name("nul-byte-in-memdb-name", "file:/mem%00?vfs=memdb", ErrInvalidName),
		name("directory", "sub", ErrInvalidName),
		name("directory-dot", ".", ErrInvalidName),
		name("directory-dot-dot", "..", ErrInvalidName),
		name("directory-trailing-slash", "sub/", ErrInvalidName),
		name("directory-absolute", dir, ErrInvalidName),
		name("directory-uri", "file:sub", ErrInvalidName),
		name("symlink-to-directory", "sublink", ErrInvalidName),
		name("file-with-trailing-slash", "good.db/", ErrInvalidName),
		name("missing-parent", "nope/app.db", ErrInvalidName),
		name("missing-parent-uri", "file:nope/app.db", ErrInvalidName),
		name("missing-parent-absolute", filepath.Join(dir, "nope", "app.db"), ErrInvalidName),
		name("parent-is-a-file", "notes.txt/app.db", ErrInvalidName),
		name("dangling-symlink", "dangling.db", ErrInvalidName),
		name("symlink-loop", "loop-a.db", ErrInvalidName),
		{name: "fifo", db: "fifo.db", want: []error{ErrInvalidName}, needs: needFIFO},
		name("device", os.DevNull, ErrInvalidName),
		name("component-too-long", strings.Repeat("a", 300)+".db", ErrInvalidName),

		// URIs: malformed, or asking for what the pool decides itself.
		name("malformed-uri-query", "file:good.db?%zz", ErrInvalidName),
		name("malformed-uri-path", "file:app%zz.db", ErrInvalidName),
		name("control-character-in-uri", "file:app\x7f.db", ErrInvalidName),
		name("semicolon-in-uri-query", "file:/mem?vfs=memdb;cache=shared", ErrInvalidName),
		name("unknown-uri-parameter", "file:good.db?mode=ro", ErrInvalidName),
		name("immutable-uri-parameter", "file:good.db?immutable=1", ErrInvalidName),
		name("pragma-uri-parameter", "file:good.db?_pragma=journal_mode(DELETE)", ErrInvalidName),
		name("shared-cache-memory", "file::memory:?cache=shared", ErrInvalidName),
		name("vfs-given-twice", "file:/mem?vfs=memdb&vfs=memdb", ErrInvalidName),
		name("unknown-vfs", "file:good.db?vfs=unix-none", ErrInvalidName),
		name("remote-host", "file://example.com/app.db", ErrInvalidName),
		name("uri-without-path", "file:", ErrInvalidName),
		name("uri-of-root", "file:///", ErrInvalidName),
		name("memdb-without-slash", "file:mem?vfs=memdb", ErrInvalidName),
		name("memdb-of-root", "file:/?vfs=memdb", ErrInvalidName),

		// Files that are not databases, or not whole ones.
		name("not-a-database", "notes.txt", ErrNotDatabase),
		name("not-a-database-uri", "file:notes.txt", ErrNotDatabase),
		name("not-a-database-absolute-uri", "file://"+filepath.Join(dir, "notes.txt"), ErrNotDatabase),
		name("shorter-than-magic", "short.db", ErrNotDatabase),
		name("cut-inside-header", "cut-header.db", ErrNotDatabase),
		header("bad-page-size", "bad-page-size.db", "page size 4608"),
		header("page-size-too-big", "page-size-128k.db", "page size 131072"),
		header("page-size-too-small", "page-size-256.db", "page size 256"),
		header("bad-payload-fractions", "bad-fractions.db", "payload fractions 0/32/32"),
		header("too-many-reserved-bytes", "reserved.db", "40 reserved bytes"),
		header("future-read-version", "future-read.db", "read version 3"),
		// A newer write version makes SQLite open the file read-only.
		name("future-write-version", "future-write.db", ErrReadOnly),
		name("cut-to-100-bytes", "cut-100.db", sqlite3.CORRUPT),
		name("cut-mid-page", "cut-mid-page.db", sqlite3.CORRUPT),
		name("garbage-schema-page", "garbage-schema.db", sqlite3.CORRUPT),
		{name: "garbage-table-pages", db: "garbage-pages.db", want: []error{sqlite3.CORRUPT}, lazy: true},

		// The writer must be able to write.
		ro(name("read-only-file", "ro.db", ErrReadOnly)),
		ro(name("read-only-directory", "rodir/app.db", ErrReadOnly)),
		ro(name("read-only-directory-rollback-journal", "rodir/legacy.db", ErrReadOnly)),
		ro(name("read-only-directory-new-file", "rodir/new.db", ErrReadOnly)),

		// Options out of range.
		opt("readers-zero", "WithReaders(0)", WithReaders(0)),
		opt("readers-negative", "WithReaders(-1)", WithReaders(-1)),
		opt("readers-one-too-many", fmt.Sprintf("WithReaders(%d)", MaxReaders+1), WithReaders(MaxReaders+1)),
		opt("readers-min-int", fmt.Sprintf("WithReaders(%d)", math.MinInt), WithReaders(math.MinInt)),
		opt("readers-max-int", fmt.Sprintf("WithReaders(%d)", math.MaxInt), WithReaders(math.MaxInt)),
		opt("busy-timeout-negative", "WithBusyTimeout(-1ns)", WithBusyTimeout(-1)),
		opt("busy-timeout-past-int32-ms", "WithBusyTimeout(", WithBusyTimeout(math.MaxInt32*time.Millisecond+1)),
		opt("busy-timeout-min", "WithBusyTimeout(", WithBusyTimeout(math.MinInt64)),
		opt("busy-timeout-max", "WithBusyTimeout(", WithBusyTimeout(math.MaxInt64)),
		opt("acquire-timeout-negative", "WithAcquireTimeout(-1ns)", WithAcquireTimeout(-1)),
		opt("acquire-timeout-min", "WithAcquireTimeout(", WithAcquireTimeout(math.MinInt64)),
		opt("stmt-cache-negative", "WithStmtCacheSize(-1)", WithStmtCacheSize(-1)),
		opt("stmt-cache-one-too-many", fmt.Sprintf("WithStmtCacheSize(%d)", maxStmtCacheSize+1), WithStmtCacheSize(maxStmtCacheSize+1)),
		opt("stmt-cache-max-int", "WithStmtCacheSize(", WithStmtCacheSize(math.MaxInt)),
		opt("synchronous-empty", `WithSynchronous("")`, WithSynchronous("")),
		opt("synchronous-unknown", `WithSynchronous("sometimes")`, WithSynchronous("sometimes")),
		// The mode is pasted into a PRAGMA: anything but the four is refused.
		opt("synchronous-injection", "WithSynchronous(", WithSynchronous("NORMAL; PRAGMA foreign_keys=OFF")),
		opt("synchronous-nul", "WithSynchronous(", WithSynchronous("NORMAL\x00")),
		opt("setup-nil", "WithSetup(nil)", WithSetup(nil)),
		opt("bad-after-good", "WithReaders(0)", WithReaders(4), nil, WithReaders(0)),
	}
}

// hostileNames is the names of hostileCases, once each.
func hostileNames(dir string) []string {
	var names []string
	seen := make(map[string]bool)
	for _, tc := range hostileCases(dir) {
		if !seen[tc.db] {
			seen[tc.db] = true
			names = append(names, tc.db)
		}
	}
	return names
}

// hostileFixture makes a directory of damaged and odd files for
// hostileCases. With readOnly, it also makes ro.db and rodir read-only.
// missing says why it could not make what a need names.
func hostileFixture(t testing.TB, readOnly bool) (dir string, missing map[string]string) {
	t.Helper()
	dir = t.TempDir()
	missing = make(map[string]string)
	at := func(name string) string { return filepath.Join(dir, name) }

	good := at("good.db")
	h, err := Open(good, createTable)
	require.NoError(t, err)
	require.NoError(t, h.Exec(context.Background(),
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 60) INSERT INTO t(v) SELECT printf('%0300d', i) FROM n"))
	require.NoError(t, h.Close())
	goodBytes, err := os.ReadFile(good)
	require.NoError(t, err)
	pageSize := int(binary.BigEndian.Uint16(goodBytes[16:18]))
	require.Greater(t, len(goodBytes), 4*pageSize, "good.db is big enough to damage its later pages")
	require.Equal(t, []byte{2, 2}, goodBytes[18:20], "the pool made good.db a WAL database")

	write := func(name string, b []byte) {
		require.NoError(t, os.WriteFile(at(name), b, 0o644))
	}
	// variant is good.db with the bytes from off on replaced by b.
	variant := func(name string, off int, b []byte) {
		v := append([]byte(nil), goodBytes...)
		copy(v[off:], b)
		write(name, v)
	}
	garbage := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + 13)
		}
		return b
	}

	write("notes.txt", []byte("these are notes, not a database, but long enough to have a header"))
	write("short.db", []byte("SQLite"))
	write("cut-header.db", goodBytes[:50])
	variant("bad-page-size.db", 16, []byte{0x12, 0x00})  // 4608
	variant("page-size-128k.db", 16, []byte{0x00, 0x02}) // powers of two, out of range
	variant("page-size-256.db", 16, []byte{0x01, 0x00})
	variant("bad-fractions.db", 21, []byte{0})
	variant("reserved.db", 16, []byte{0x02, 0x00, 2, 2, 40}) // 512-byte pages, 472 usable
	variant("future-read.db", 19, []byte{3})
	variant("future-write.db", 18, []byte{3})
	write("cut-100.db", goodBytes[:100])
	write("cut-mid-page.db", goodBytes[:2*pageSize+pageSize/3])
	variant("garbage-schema.db", 100, garbage(pageSize-100))
	variant("garbage-pages.db", pageSize, garbage(len(goodBytes)-pageSize))
	write("ro.db", goodBytes)

	require.NoError(t, os.Mkdir(at("sub"), 0o755))
	require.NoError(t, os.Symlink("sub", at("sublink")))
	require.NoError(t, os.Symlink("missing.db", at("dangling.db")))
	require.NoError(t, os.Symlink("loop-b.db", at("loop-a.db")))
	require.NoError(t, os.Symlink("loop-a.db", at("loop-b.db")))
	if out, err := exec.Command("mkfifo", at("fifo.db")).CombinedOutput(); err != nil {
		missing[needFIFO] = fmt.Sprintf("mkfifo failed: %v %s", err, out)
	}

	require.NoError(t, os.Mkdir(at("rodir"), 0o755))
	require.NoError(t, os.WriteFile(at("rodir/app.db"), goodBytes, 0o644))
	legacy := at("rodir/legacy.db")
	require.NoError(t, os.WriteFile(legacy, goodBytes, 0o644))
	raw, err := sqlite3.Open(legacy)
	require.NoError(t, err)
	require.NoError(t, raw.Exec("PRAGMA journal_mode=DELETE"))
	require.NoError(t, raw.Close())

	if readOnly {
		for _, p := range []string{at("ro.db"), at("rodir")} {
			if why := makeReadOnly(t, p); why != "" {
				missing[needReadOnly] = why
				break
			}
		}
	} else {
		missing[needReadOnly] = "not asked for"
	}
	return dir, missing
}

// makeReadOnly makes path unwritable until the test ends, or says why it
// cannot. Root ignores mode bits, so for root it sets the immutable
// attribute (chattr +i), which binds root too; others get chmod a-w.
func makeReadOnly(t testing.TB, path string) (whyNot string) {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
			return fmt.Sprintf("running as root, which ignores mode bits, and chattr +i %s failed: %v %s"+
				"(the read-only cases need chattr and a filesystem with the immutable attribute)", path, err, out)
		}
		// Registered after t.TempDir's removal, so it runs before it.
		t.Cleanup(func() {
			if out, err := exec.Command("chattr", "-i", path).CombinedOutput(); err != nil {
				t.Errorf("chattr -i %s: %v: %s", path, err, out)
			}
		})
	} else {
		require.NoError(t, os.Chmod(path, fi.Mode().Perm()&^0o222))
		t.Cleanup(func() { os.Chmod(path, fi.Mode().Perm()) })
	}
	// Check that it worked, without changing anything if it did.
	if fi.IsDir() {
		if f, err := os.CreateTemp(path, "probe"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "could not make the directory " + path + " read-only"
		}
	} else if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
		f.Close()
		return "could not make the file " + path + " read-only"
	}
	return ""
}

// fileState is what a directory entry holds: its type and permissions, its
// size and modification time, and its contents' hash or its link target.
type fileState struct {
	Mode  fs.FileMode
	Size  int64
	MTime time.Time
	Sum   [sha256.Size]byte
	Link  string
}

// diskState snapshots the tree under dir, without following symlinks or
// opening anything but regular files. Without hashes, regular files are
// known by size and modification time only (cheaper, for fuzzing).
func diskState(t testing.TB, dir string, hashes bool) map[string]fileState {
	t.Helper()
	state := make(map[string]fileState)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		s := fileState{Mode: fi.Mode(), MTime: fi.ModTime()}
		switch {
		case fi.Mode().IsRegular():
			s.Size = fi.Size()
			if hashes {
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				s.Sum = sha256.Sum256(b)
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			if s.Link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		state[rel] = s
		return nil
	})
	require.NoError(t, err)
	return state
}

// diskChanges lists what differs between two snapshots of diskState. With
// dirTimes false it leaves out the modification times of directories: they
// change when SQLite creates a -wal or -shm file and removes it again.
func diskChanges(before, after map[string]fileState, dirTimes bool) []string {
	var changes []string
	for name, a := range after {
		b, ok := before[name]
		switch {
		case !ok:
			changes = append(changes, fmt.Sprintf("created %s (%v, %d bytes)", name, a.Mode, a.Size))
		case a.Mode != b.Mode:
			changes = append(changes, fmt.Sprintf("%s: mode %v, was %v", name, a.Mode, b.Mode))
		case a.Size != b.Size || a.Sum != b.Sum || a.Link != b.Link:
			changes = append(changes, fmt.Sprintf("%s: contents changed (%d bytes, was %d)", name, a.Size, b.Size))
		case !a.MTime.Equal(b.MTime) && (dirTimes || !a.Mode.IsDir()):
			changes = append(changes, fmt.Sprintf("%s: modified at %v, was %v", name, a.MTime, b.MTime))
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			changes = append(changes, "removed "+name)
		}
	}
	slices.Sort(changes)
	return changes
}

func registrySize() int {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	return len(reg.entries)
}

// TestHostileInput opens every kind of bad name and option and checks the
// error, and that nothing on disk was created or changed, no descriptor is
// left open and the registry holds nothing more.
func TestHostileInput(t *testing.T) {
	dir, missing := hostileFixture(t, true)
	t.Chdir(dir)
	for _, tc := range hostileCases(dir) {
		t.Run(tc.name, func(t *testing.T) {
			if why, ok := missing[tc.needs]; ok {
				t.Skipf("the fixture has no %s: %s", tc.needs, why)
			}
			before := diskState(t, dir, true)
			fds := openFDs(t)
			entries := registrySize()
			inits := 0
			init := func(ctx context.Context, c *Conn) error {
				inits++
				return createTable(ctx, c)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			h, err := OpenContext(ctx, tc.db, init, tc.opts...)
			if tc.lazy {
				require.NoError(t, err, "SQLite reads pages when a query needs them: Open succeeds")
				assert.Equal(t, 1, inits)
				var n int64
				err = h.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n)
				for _, w := range tc.want {
					assert.ErrorIs(t, err, w, "the first query that reads a damaged page")
				}
				err = h.Exec(ctx, "INSERT INTO t(v) VALUES ('more')")
				for _, w := range tc.want {
					assert.ErrorIs(t, err, w, "a write into a damaged table")
				}
				require.NoError(t, h.Close())
			} else {
				if h != nil {
					assert.NoError(t, h.Close())
				}
				require.Error(t, err)
				t.Log(err)
				for _, w := range tc.want {
					require.ErrorIs(t, err, w)
				}
				assert.Contains(t, err.Error(), fmt.Sprintf("%q", tc.db), "the error names the database")
				assert.Contains(t, err.Error(), tc.mention)
				assert.Zero(t, inits, "init ran")
			}

			assert.Empty(t, diskChanges(before, diskState(t, dir, true), tc.preEngine()), "Open changed the directory")
			assert.Equal(t, fds, openFDs(t), "file descriptors left open")
			assert.Equal(t, entries, registrySize(), "registry entries left")
		})
	}
}

// TestBadOptionOnOpenPool checks that a later Open's options are checked
// too, and that refusing them leaves the pool and its handles alone.
func TestBadOptionOnOpenPool(t *testing.T) {
	path := tempDB(t)
	h := openT(t, path, createTable)
	other, err := Open(path, nil, WithStmtCacheSize(-1))
	require.ErrorIs(t, err, ErrInvalidOption)
	assert.Nil(t, other)
	assert.Contains(t, err.Error(), fmt.Sprintf("%q", path))
	assert.Equal(t, 1, h.Stats().Handles)
	require.NoError(t, h.Exec(context.Background(), "INSERT INTO t(v) VALUES (1)"))
}

// TestOptionBoundsAccepted pins the edges of every range hostileCases steps
// just outside of.
func TestOptionBoundsAccepted(t *testing.T) {
	for i, opt := range []Option{
		WithReaders(1), WithReaders(MaxReaders),
		WithBusyTimeout(0), WithBusyTimeout(math.MaxInt32 * time.Millisecond),
		WithAcquireTimeout(0), WithAcquireTimeout(math.MaxInt64),
		WithStmtCacheSize(0), WithStmtCacheSize(maxStmtCacheSize),
		WithSynchronous("off"), WithSynchronous("Normal"), WithSynchronous("FULL"), WithSynchronous("extra"),
		nil,
	} {
		_, err := newConfig("x.db", []Option{opt})
		assert.NoError(t, err, "option %d", i)
	}
}

// TestHeaderChecksAcceptRealDatabases opens databases at the edges of what
// the header checks allow: the smallest and largest page sizes, and the
// rollback-journal format.
func TestHeaderChecksAcceptRealDatabases(t *testing.T) {
	for _, pragmas := range []string{"PRAGMA page_size=512", "PRAGMA page_size=65536", "PRAGMA journal_mode=DELETE"} {
		t.Run(pragmas, func(t *testing.T) {
			path := tempDB(t)
			raw, err := sqlite3.Open(path)
			require.NoError(t, err)
			require.NoError(t, raw.Exec(pragmas+"; CREATE TABLE t(id INTEGER PRIMARY KEY, v); INSERT INTO t(v) VALUES (1)"))
			require.NoError(t, raw.Close())
			h := openT(t, path, nil)
			assert.Equal(t, int64(1), readInt(t, h, "SELECT count(*) FROM t"))
		})
	}
}

// TestRollbackJournalDatabaseLeavesNoWAL opens a database in the default
// rollback-journal mode, which the writer switches to WAL, reads it through
// a reader only, and checks that the last Close removes the -wal and -shm
// files, as it does for a database the pool made.
func TestRollbackJournalDatabaseLeavesNoWAL(t *testing.T) {
	path := tempDB(t)
	raw, err := sqlite3.Open(path)
	require.NoError(t, err)
	require.NoError(t, raw.Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, v); INSERT INTO t(v) VALUES (1), (2)"))
	require.NoError(t, raw.Close())

	h, err := Open(path, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(2), readInt(t, h, "SELECT count(*) FROM t"))
	require.NoError(t, h.Close())
	assert.Equal(t, []string{filepath.Base(path)}, dirNames(t, filepath.Dir(path)))

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, []byte{2, 2}, b[18:20], "the file is in WAL mode")
}
