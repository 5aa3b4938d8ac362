package sqlitepool

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzResolveName checks name canonicalization on any string: resolve never
// panics and never touches the disk, refuses names with a NUL byte, and the
// key it gives is canonical (absolute, clean, a fixed point of resolve) and
// reaches the file the name reaches.
//
// Each input gets a fixture of its own, in its t.TempDir, copied from one
// made once per process and kept in memory: a fuzzing worker that is
// stopped by force runs no cleanup, and a directory made for the whole
// target (f.TempDir) would stay behind. In a name, "@@" stands for the
// fixture's absolute path.
func FuzzResolveName(f *testing.F) {
	for _, name := range hostileNames("@@") {
		f.Add(name)
	}
	for _, name := range []string{
		"good.db", "./good.db", "sub/../good.db", "sublink/../good.db", "@@/good.db",
		"file:good.db", "file:./good.db?", "file:good.db#frag", "file://@@/good.db",
		"new.db", "sub/new.db", "sublink/new.db", "file:new%20db", "garbage-pages.db", "what?.db",
		":memory:", "file::memory:", "file:/shared?vfs=memdb", "file:///shared?vfs=memdb",
		"file:/a%2Fb?vfs=memdb", "file:/a/../b?vfs=memdb", "file:good.db?vfs=",
		// memdb names that start with "//": their DSN must keep its empty
		// authority, or it would read "file://x", authority x.
		"file:////?vfs=memdb", "file:////x?vfs=memdb",
	} {
		f.Add(name)
	}

	f.Fuzz(func(t *testing.T, name string) {
		dir := t.TempDir()
		fixtureCopy(t, dir)
		before := diskState(t, dir, false)
		name = strings.ReplaceAll(name, "@@", dir)
		// Per input, not for f: the fuzzer reads and writes its corpus
		// in testdata/fuzz, relative to the working directory.
		t.Chdir(dir)
		plain := !strings.HasPrefix(name, "file:")
		var (
			nameInfo fs.FileInfo
			nameErr  error
		)
		if plain {
			nameInfo, nameErr = os.Stat(name)
		}
		tg, err := resolve(name)
		checkResolved(t, name, tg, err)

		if plain && err == nil && !tg.memory {
			// The key reaches the file the name reaches, or, for a file
			// that does not exist yet, the same entry of the same directory.
			keyInfo, keyErr := os.Stat(tg.key)
			switch {
			case nameErr == nil:
				require.NoError(t, keyErr)
				require.True(t, os.SameFile(nameInfo, keyInfo), "key %q is another file than %q", tg.key, name)
			case errors.Is(nameErr, fs.ErrNotExist):
				require.ErrorIs(t, keyErr, fs.ErrNotExist, "resolve created %q", tg.key)
				nameDir, base := filepath.Split(name)
				if nameDir == "" {
					nameDir = "."
				}
				require.Equal(t, base, filepath.Base(tg.key))
				a, err := os.Stat(nameDir)
				require.NoError(t, err)
				b, err := os.Stat(filepath.Dir(tg.key))
				require.NoError(t, err)
				require.True(t, os.SameFile(a, b), "key %q is in another directory than %q", tg.key, name)
			}
		}
		if plain {
			// The path spelled as a file: URI resolves alike.
			uri := "file:" + url.PathEscape(name)
			viaURI, uriErr := resolve(uri)
			checkResolved(t, uri, viaURI, uriErr)
			if err != nil {
				require.Error(t, uriErr, "%q fails but %q resolves", name, uri)
				require.Equal(t, errors.Is(err, ErrNotDatabase), errors.Is(uriErr, ErrNotDatabase), "%v\n%v", err, uriErr)
			} else {
				require.NoError(t, uriErr, "%q resolves but %q fails", name, uri)
				require.Equal(t, tg.key, viaURI.key)
				require.Equal(t, tg.memory, viaURI.memory)
			}
		}
		require.Empty(t, diskChanges(before, diskState(t, dir, false), true), "resolve changed the directory")
	})
}

// fixtureFile is one entry of the hostile fixture, held in memory.
type fixtureFile struct {
	rel  string
	mode fs.FileMode
	data []byte // a regular file's contents
	link string // a symlink's target
}

var fixture struct {
	once  sync.Once
	files []fixtureFile // parents before children
}

// fixtureCopy makes the hostile fixture in dir: the first call of a
// process makes it with hostileFixture (in a directory of t's) and keeps
// it in memory, the others write it from there.
func fixtureCopy(t *testing.T, dir string) {
	t.Helper()
	fixture.once.Do(func() {
		src, _ := hostileFixture(t, false)
		require.NoError(t, filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
			if err != nil || path == src {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, path)
			e := fixtureFile{rel: rel, mode: fi.Mode()}
			switch {
			case fi.Mode().IsRegular():
				e.data, err = os.ReadFile(path)
			case fi.Mode()&fs.ModeSymlink != 0:
				e.link, err = os.Readlink(path)
			}
			fixture.files = append(fixture.files, e)
			return err
		}))
	})
	require.NotEmpty(t, fixture.files, "the fixture could not be made")
	for _, e := range fixture.files {
		path := filepath.Join(dir, e.rel)
		var err error
		switch {
		case e.mode.IsDir():
			err = os.Mkdir(path, e.mode.Perm())
		case e.mode&fs.ModeSymlink != 0:
			err = os.Symlink(e.link, path)
		case e.mode&fs.ModeNamedPipe != 0:
			if out, cerr := exec.Command("mkfifo", path).CombinedOutput(); cerr != nil {
				err = fmt.Errorf("mkfifo: %w: %s", cerr, out)
			}
		default:
			err = os.WriteFile(path, e.data, e.mode.Perm())
		}
		require.NoError(t, err)
	}
}

// checkResolved checks what holds of every outcome of resolve(name).
func checkResolved(t *testing.T, name string, tg target, err error) {
	t.Helper()
	if err != nil {
		require.True(t, errors.Is(err, ErrInvalidName) != errors.Is(err, ErrNotDatabase),
			"%v: want ErrInvalidName or ErrNotDatabase", err)
		require.Contains(t, err.Error(), fmt.Sprintf("%q", name), "the error names the database")
		require.Equal(t, target{}, tg)
		return
	}
	require.NotContains(t, name, "\x00", "a name with a NUL byte resolved")
	require.NotContains(t, tg.key, "\x00")
	require.NotContains(t, tg.dsn, "\x00")
	require.Equal(t, name, tg.name)
	if tg.memory {
		require.True(t, strings.HasSuffix(tg.dsn, "?vfs=memdb"), "memory DSN %q", tg.dsn)
		if tg.key == "" {
			require.True(t, strings.HasPrefix(tg.dsn, "file:/sqlitepool-"), "private memory DSN %q", tg.dsn)
			return
		}
		require.True(t, strings.HasPrefix(tg.key, "memdb:/"), "memory key %q", tg.key)
		again, err := resolve(tg.dsn)
		require.NoError(t, err, "the DSN %q of %q", tg.dsn, name)
		require.Equal(t, tg.key, again.key, "the DSN %q of %q", tg.dsn, name)
		return
	}
	require.True(t, filepath.IsAbs(tg.key), "key %q is not absolute", tg.key)
	require.Equal(t, filepath.Clean(tg.key), tg.key, "key is not clean")
	require.Equal(t, tg.key, tg.dsn)
	again, err := resolve(tg.key)
	require.NoError(t, err, "key %q of %q", tg.key, name)
	require.Equal(t, tg.key, again.key, "key of %q is not a fixed point", name)
	uri := (&url.URL{Scheme: "file", Path: tg.key}).String()
	again, err = resolve(uri)
	require.NoError(t, err, "URI %q of the key of %q", uri, name)
	require.Equal(t, tg.key, again.key, "URI %q of the key of %q", uri, name)
}

// The kinds of argument FuzzBindArgs makes, each from a tag byte and the
// bytes after it: first the basic ones, then some that are not supported
// (argComplex to argError, but for argPointer and argDefinedInt), then
// argTimePointer and argValuer. The kinds stay at most 28, so that a tag
// byte divided by their number still tells all ten ways of passing one;
// argPointer, argDefinedInt and argValuer read a byte more that picks a
// variant.
const (
	argNil = iota
	argInt
	argInt8
	argInt16
	argInt32
	argInt64
	argUint
	argUint8
	argUint16
	argUint32
	argUint64
	argFloat32
	argFloat64
	argBool
	argString
	argBytes
	argNilBytes
	argTime
	argComplex
	argStruct
	argPointer // *int64, a nil *int64, **int64 or *uint64
	argSlice
	argMap
	argUintptr
	argDefinedInt // types of their own of the basic kinds
	argError
	argTimePointer
	argValuer // sql.Null* values and pointers, and Valuers that fail
	argKinds
)

// Types of their own of the basic kinds, bound as their kind.
type (
	definedInt    int64
	definedUint   uint64
	definedString string
	definedBytes  []byte
)

// failingValuer is a driver.Valuer whose Value fails.
type failingValuer struct{}

func (failingValuer) Value() (driver.Value, error) { return nil, errors.New("no value") }

// structValuer is a driver.Valuer whose Value returns a type that cannot
// be bound.
type structValuer struct{}

func (structValuer) Value() (driver.Value, error) { return struct{}{}, nil }

// fuzzBytes reads a fuzz input, with zeros past its end.
type fuzzBytes []byte

func (r *fuzzBytes) byte() byte {
	if len(*r) == 0 {
		return 0
	}
	b := (*r)[0]
	*r = (*r)[1:]
	return b
}

func (r *fuzzBytes) uint64() uint64 {
	var b [8]byte
	*r = (*r)[copy(b[:], *r):]
	return binary.LittleEndian.Uint64(b[:])
}

// bytes reads a length byte and up to that many bytes, never nil.
func (r *fuzzBytes) bytes() []byte {
	n := min(int(r.byte()), len(*r))
	b := append([]byte{}, (*r)[:n]...)
	*r = (*r)[n:]
	return b
}

// fuzzArg is one argument: the value passed, whether the package binds it,
// and what a column then holds (nil, int64, float64, string or []byte).
type fuzzArg struct {
	value any
	ok    bool
	want  any
}

func decodeArg(kind byte, r *fuzzBytes) fuzzArg {
	i := r.uint64
	switch kind {
	case argNil:
		return fuzzArg{nil, true, nil}
	case argInt:
		v := int(i())
		return fuzzArg{v, true, int64(v)}
	case argInt8:
		v := int8(i())
		return fuzzArg{v, true, int64(v)}
	case argInt16:
		v := int16(i())
		return fuzzArg{v, true, int64(v)}
	case argInt32:
		v := int32(i())
		return fuzzArg{v, true, int64(v)}
	case argInt64:
		v := int64(i())
		return fuzzArg{v, true, v}
	case argUint:
		v := uint(i())
		return fuzzArg{v, v <= math.MaxInt64, int64(v)}
	case argUint8:
		v := uint8(i())
		return fuzzArg{v, true, int64(v)}
	case argUint16:
		v := uint16(i())
		return fuzzArg{v, true, int64(v)}
	case argUint32:
		v := uint32(i())
		return fuzzArg{v, true, int64(v)}
	case argUint64:
		v := i()
		return fuzzArg{v, v <= math.MaxInt64, int64(v)}
	case argFloat32:
		v := math.Float32frombits(uint32(i()))
		return fuzzArg{v, true, floatWant(float64(v))}
	case argFloat64:
		v := math.Float64frombits(i())
		return fuzzArg{v, true, floatWant(v)}
	case argBool:
		v := r.byte()&1 == 1
		var want int64
		if v {
			want = 1
		}
		return fuzzArg{v, true, want}
	case argString:
		v := string(r.bytes())
		return fuzzArg{v, true, v}
	case argBytes:
		v := r.bytes()
		return fuzzArg{v, true, bytes.Clone(v)}
	case argNilBytes:
		return fuzzArg{[]byte(nil), true, nil}
	case argTime:
		sec, nsec := int64(i()), int64(i()%1e9)
		zone := time.FixedZone("", int(int64(i())))
		v := time.Unix(sec, nsec).In(zone)
		return fuzzArg{v, true, v.Format(time.RFC3339Nano)}
	case argComplex:
		return fuzzArg{value: complex(float64(i()), 1)}
	case argStruct:
		return fuzzArg{value: struct{ N uint64 }{i()}}
	case argPointer:
		variant := r.byte() % 4
		v := i()
		switch variant {
		case 0:
			n := int64(v)
			return fuzzArg{&n, true, n}
		case 1:
			return fuzzArg{(*int64)(nil), true, nil}
		case 2:
			n := int64(v)
			p := &n
			return fuzzArg{&p, true, n}
		}
		return fuzzArg{&v, v <= math.MaxInt64, int64(v)}
	case argSlice:
		return fuzzArg{value: []int64{int64(i())}}
	case argMap:
		return fuzzArg{value: map[string]uint64{"v": i()}}
	case argUintptr:
		return fuzzArg{value: uintptr(i())}
	case argDefinedInt:
		switch r.byte() % 4 {
		case 0:
			v := int64(i())
			return fuzzArg{definedInt(v), true, v}
		case 1:
			v := string(r.bytes())
			return fuzzArg{definedString(v), true, v}
		case 2:
			v := i()
			return fuzzArg{definedUint(v), v <= math.MaxInt64, int64(v)}
		}
		v := r.bytes()
		return fuzzArg{definedBytes(v), true, bytes.Clone(v)}
	case argError:
		return fuzzArg{value: errors.New(string(r.bytes()))}
	case argTimePointer:
		v := time.Unix(int64(i()), 0)
		return fuzzArg{&v, true, v.Format(time.RFC3339Nano)}
	case argValuer:
		switch r.byte() % 6 {
		case 0:
			v := string(r.bytes())
			return fuzzArg{sql.NullString{String: v, Valid: true}, true, v}
		case 1:
			return fuzzArg{sql.NullInt64{}, true, nil}
		case 2:
			return fuzzArg{(*sql.NullString)(nil), true, nil} // a value receiver: NULL
		case 3:
			return fuzzArg{value: failingValuer{}}
		case 4:
			return fuzzArg{value: structValuer{}}
		}
		v := int64(i())
		return fuzzArg{&sql.NullInt64{Int64: v, Valid: true}, true, v}
	}
	panic(fmt.Sprintf("kind %d", kind))
}

// floatWant is what SQLite stores for a float: NaN is stored as NULL.
func floatWant(v float64) any {
	if math.IsNaN(v) {
		return nil
	}
	return v
}

// fuzzParam is the name of parameter j (from 1) of a statement with named
// parameters: the prefixes take turns.
func fuzzParam(j int) string {
	return [...]string{":", "@", "$"}[j%3] + "p" + fmt.Sprint(j)
}

const maxFuzzParams = 8

// FuzzBindArgs binds random arguments, by position or by name (Named or
// sql.Named), to a statement with n parameters. An argument of an
// unsupported type or out of range, a Valuer that fails, a wrong count or
// name, or a mix of named and positional arguments must give
// ErrInvalidArgument before the statement runs; otherwise each value must
// come back as documented (bool as 0 or 1, time.Time as RFC 3339 text, a
// nil []byte or pointer as NULL, a Valuer as its Value, a named type as its
// kind), from a table and from SELECT ?.
func FuzzBindArgs(f *testing.F) {
	var cols []string
	for j := 1; j <= maxFuzzParams; j++ {
		cols = append(cols, fmt.Sprintf("c%d", j))
	}
	h, err := Open(":memory:", func(ctx context.Context, c *Conn) error {
		// Columns without a type: values are stored as bound.
		return c.Exec("CREATE TABLE args(" + strings.Join(cols, ", ") + ")")
	}, WithReaders(1))
	require.NoError(f, err)
	f.Cleanup(func() { require.NoError(f, h.Close()) })

	// Seeds: every kind alone, then the arguments of TestExecArguments and
	// TestNamedArguments, by position and by name.
	payload := []byte{3, 'a', 'b', 'c', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	for k := range argKinds {
		f.Add(uint8(1), false, false, append([]byte{byte(k)}, payload...))
	}
	u64 := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
	when := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	var all []byte
	for _, a := range [][]byte{
		{argNil},
		append([]byte{argInt}, u64(1)...),
		append([]byte{argUint64}, u64(10)...),
		append([]byte{argUint64}, u64(1<<63)...),
		append([]byte{argFloat64}, u64(math.Float64bits(2.5))...),
		append([]byte{argFloat64}, u64(math.Float64bits(math.NaN()))...),
		{argBool, 1},
		{argString, 4, 't', 'e', 'x', 't'},
		{argBytes, 4, 'b', 'l', 'o', 'b'},
		{argNilBytes},
		append(append([]byte{argTime}, u64(uint64(when.Unix()))...), make([]byte, 16)...),
		append([]byte{argStruct}, u64(0)...),
		append([]byte{argPointer, 0}, u64(5)...),
		append([]byte{argPointer, 1}, u64(0)...),
		append([]byte{argPointer, 2}, u64(6)...),
		append([]byte{argPointer, 3}, u64(1<<63)...),
		append([]byte{argDefinedInt, 0}, u64(7)...),
		{argDefinedInt, 1, 2, 'i', 'd'},
		append([]byte{argDefinedInt, 2}, u64(1<<63)...),
		{argDefinedInt, 3, 1, 'b'},
		append([]byte{argTimePointer}, u64(uint64(when.Unix()))...),
		{argValuer, 0, 1, 'v'},
		{argValuer, 1},
		{argValuer, 2},
		{argValuer, 3},
		{argValuer, 4},
		append([]byte{argValuer, 5}, u64(8)...),
	} {
		f.Add(uint8(1), false, false, a)
		f.Add(uint8(1), true, true, a)
		all = append(all, a...)
	}
	f.Add(uint8(12), false, false, all)
	// A 12-digit year and a zone a million hours off: RFC 3339 text longer
	// than the engine's 48-byte buffer for it.
	f.Add(uint8(1), false, false, append(append(append([]byte{argTime}, u64(1<<62)...), u64(999999999)...), u64(1<<40)...))
	f.Add(uint8(2), true, true, []byte{argInt + 3*argKinds, 1, 0, 0, 0, 0, 0, 0, 0, argString, 3, 'o', 'n', 'e'})
	f.Add(uint8(2), true, true, []byte{argInt + 8*argKinds, 1, 0, 0, 0, 0, 0, 0, 0, argString + 8*argKinds, 3, 'o', 'n', 'e'})
	f.Add(uint8(2), true, true, []byte{argInt, 1, 0, 0, 0, 0, 0, 0, 0, argString + 7*argKinds, 3, 'o', 'n', 'e'})
	f.Add(uint8(2), true, true, []byte{argInt + 8*argKinds, 1, 0, 0, 0, 0, 0, 0, 0, argString, 3, 'o', 'n', 'e'}) // p2 twice
	f.Add(uint8(2), true, false, []byte{argInt, 1, 0, 0, 0, 0, 0, 0, 0, argInt, 2})

	f.Fuzz(func(t *testing.T, params uint8, namedSQL, namedArgs bool, spec []byte) {
		n := int(params) % (maxFuzzParams + 1)
		sqlParams := make([]string, n)
		for j := 1; j <= n; j++ {
			sqlParams[j-1] = "?"
			if namedSQL {
				sqlParams[j-1] = fuzzParam(j)
			}
		}
		// lookup is the parameter a name binds, 0 for none, as Named
		// documents it: with its prefix, or without and any prefix.
		lookup := func(name string) int {
			for j := 1; namedSQL && j <= n; j++ {
				if p := fuzzParam(j); name == p || name == p[1:] {
					return j
				}
			}
			return 0
		}

		// Decode the arguments. The tag byte of each gives its kind and,
		// divided by the number of kinds, how it is passed.
		r := fuzzBytes(spec)
		var (
			values  []any
			args    []fuzzArg
			named   []bool
			targets []int // the parameter each argument binds, when named
		)
		for len(r) > 0 && len(args) < maxFuzzParams+2 {
			tag := r.byte()
			a := decodeArg(tag%argKinds, &r)
			i := len(args) + 1
			how := tag / argKinds
			isNamed, name := namedArgs, ""
			switch {
			case !namedArgs && how == 8:
				isNamed, name = true, fuzzParam(i) // mixed in
			case how <= 2:
				name = fuzzParam(i)
			case how <= 4:
				name = fuzzParam(i)[1:]
			case how == 5:
				name = fuzzParam(i + 1)[:1] + fuzzParam(i)[1:] // another prefix
			case how == 6:
				name = "q" + fmt.Sprint(i)
			case how == 7:
				isNamed = false // mixed in
			case how == 8:
				name = fuzzParam(max(n+1-i, 1)) // binds in reverse: may repeat one
			case how == 9 && namedArgs:
				name = fuzzParam(i)
				a = fuzzArg{value: Named(name, a.value)} // a NamedArg as a value
			}
			v := a.value
			if isNamed {
				// database/sql's named arguments take turns with ours.
				if i%2 == 0 {
					v = sql.Named(name, v)
				} else {
					v = Named(name, v)
				}
			}
			values = append(values, v)
			args = append(args, a)
			named = append(named, isNamed)
			targets = append(targets, lookup(name))
		}

		// What must happen: bound[j] is the argument parameter j gets.
		bound := make([]fuzzArg, n+1)
		valid := len(args) == n
		for i, a := range args {
			valid = valid && a.ok && named[i] == named[0]
		}
		if valid && n > 0 && named[0] {
			seen := make(map[int]bool)
			for i, j := range targets {
				if j == 0 || seen[j] {
					valid = false
					break
				}
				seen[j] = true
				bound[j] = args[i]
			}
		} else if valid {
			for i, a := range args {
				bound[i+1] = a
			}
		}

		ctx := context.Background()
		l, err := h.Writer(ctx)
		require.NoError(t, err)
		defer l.Release()
		c := l.Conn()
		// A failed input leaves its row: every input starts afresh, or
		// minimizing a failure would report another one.
		require.NoError(t, c.Exec("DELETE FROM args"))
		insert := "INSERT INTO args DEFAULT VALUES"
		query := "SELECT NULL"
		if n > 0 {
			insert = "INSERT INTO args(" + strings.Join(cols[:n], ", ") + ") VALUES (" + strings.Join(sqlParams, ", ") + ")"
			query = "SELECT " + strings.Join(sqlParams, ", ")
		}
		got := make([]any, max(n, 1))
		dest := make([]any, len(got))
		for i := range got {
			dest[i] = &got[i]
		}

		err = c.Exec(insert, values...)
		qerr := c.QueryRow(query, values...).Scan(dest...)
		var rows int64
		require.NoError(t, c.QueryRow("SELECT count(*) FROM args").Scan(&rows))
		if !valid {
			for _, err := range []error{err, qerr} {
				require.ErrorIs(t, err, ErrInvalidArgument, "%s with %#v", insert, values)
				require.Contains(t, err.Error(), fmt.Sprintf("%q", h.Name()), "the error names the database")
			}
			require.Zero(t, rows, "%s ran with invalid arguments %#v", insert, values)
			return
		}
		require.NoError(t, err, "%s with %#v", insert, values)
		require.NoError(t, qerr, "%s with %#v", query, values)
		require.Equal(t, int64(1), rows)
		for j := 1; j <= n; j++ {
			requireStored(t, bound[j], got[j-1], "SELECT ?%d", j)
		}
		if n > 0 {
			require.NoError(t, c.QueryRow("SELECT "+strings.Join(cols[:n], ", ")+" FROM args").Scan(dest...))
			for j := 1; j <= n; j++ {
				requireStored(t, bound[j], got[j-1], "column c%d", j)
			}
		}
	})
}

// requireStored checks that got is what SQLite holds for the argument a.
func requireStored(t *testing.T, a fuzzArg, got any, where string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(where, args...) + fmt.Sprintf(" bound %#v", a.value)
	switch want := a.want.(type) {
	case nil:
		require.Nil(t, got, msg)
	case []byte:
		require.IsType(t, []byte(nil), got, msg)
		require.True(t, bytes.Equal(want, got.([]byte)), "%s: got %q", msg, got)
	case float64:
		require.IsType(t, float64(0), got, msg)
		require.True(t, want == got.(float64), "%s: got %v", msg, got)
	default:
		require.Equal(t, want, got, msg)
	}
}
