package sqlitepool

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// target is a database name resolved to what the registry keys on and what
// the engine opens.
type target struct {
	name   string // the name the caller gave, for error messages
	key    string // registry key; "" for a private in-memory database
	dsn    string // the filename passed to the engine
	memory bool   // an in-memory (memdb) database: no WAL, no files
	// info is the file's stat when it already exists: another name of it
	// (a hard link) reaches the same pool (registry.sameFileLocked).
	info fs.FileInfo
}

// sqliteHeader starts every SQLite database file.
var sqliteHeader = []byte("SQLite format 3\x00")

// resolve turns a user's database name into a target, without creating
// anything: the registry key is the canonical database, so every spelling of
// one file (relative, absolute, through a symlink, as a file: URI) reaches
// one pool. Two pools on one file would fight for the write lock.
func resolve(name string) (target, error) {
	t := target{name: name}
	bad := func(format string, args ...any) (target, error) {
		return target{}, fmt.Errorf("%w %q: %s", ErrInvalidName, name, fmt.Sprintf(format, args...))
	}
	switch {
	case name == "":
		return bad("empty name; give a file path, \":memory:\" or \"file:/name?vfs=memdb\"")
	case strings.IndexByte(name, 0) >= 0:
		return bad("the name contains a NUL byte")
	case name == ":memory:":
		return privateMemory(t)
	case !strings.HasPrefix(name, "file:"):
		return resolveFile(t, name)
	}

	u, err := url.Parse(name)
	if err != nil {
		return bad("malformed URI: %v", err)
	}
	if u.Host != "" && u.Host != "localhost" {
		return bad("URI authority %q: only an empty one or \"localhost\" names this machine", u.Host)
	}
	path := u.Path
	if u.Opaque != "" {
		if path, err = url.PathUnescape(u.Opaque); err != nil {
			return bad("malformed URI path: %v", err)
		}
	}
	if strings.IndexByte(path, 0) >= 0 {
		return bad("the name contains a NUL byte")
	}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return bad("malformed URI query: %v", err)
	}
	vfsName := ""
	for k, v := range query {
		if k != "vfs" || len(v) != 1 {
			return bad("unsupported URI parameter %q; only vfs=memdb is accepted: set pragmas with WithSetup", k)
		}
		vfsName = v[0]
	}
	switch {
	case path == ":memory:" && vfsName == "":
		return privateMemory(t)
	case vfsName == "memdb":
		if !strings.HasPrefix(path, "/") || len(path) < 2 {
			return bad("a shared memdb database is named \"file:/name?vfs=memdb\" (the name starts with a slash)")
		}
		t.memory = true
		t.key = "memdb:" + path
		t.dsn = memdbDSN(path)
		return t, nil
	case vfsName != "":
		return bad("unsupported vfs %q; use the default or memdb", vfsName)
	case path == "":
		return bad("the URI names no file")
	}
	return resolveFile(t, path)
}

// privateMemory gives ":memory:" what users expect of it: a database of its
// own, but one that every connection of the pool sees. A memdb database with
// a random name does both.
func privateMemory(t target) (target, error) {
	t.memory = true
	t.dsn = memdbDSN("/sqlitepool-" + rand.Text())
	return t, nil
}

func memdbDSN(path string) string {
	// A path that starts with "//" needs its empty authority spelled out:
	// "file://x" has the authority "x", which this engine build reads as
	// part of the path, others refuse, and resolve refuses (FuzzResolveName).
	u := url.URL{Scheme: "file", OmitHost: !strings.HasPrefix(path, "//"), Path: path, RawQuery: "vfs=memdb"}
	return u.String()
}

// resolveFile canonicalizes a file path: absolute, with every symlink of an
// existing file or of the parent directory of a new one resolved. It checks
// what Open would otherwise find out only after creating files: that the
// parent directory exists, that the name is not a directory, and that an
// existing file is an SQLite database.
func resolveFile(t target, path string) (target, error) {
	bad := func(err error, format string, args ...any) (target, error) {
		return target{}, fmt.Errorf("%w %q: %s", err, t.name, fmt.Sprintf(format, args...))
	}
	// Resolve symlinks before cleaning: "link/../x.db" is, to the OS, the
	// parent of link's target, not the directory that holds link.
	abs := path
	if !filepath.IsAbs(abs) {
		wd, err := os.Getwd()
		if err != nil {
			return bad(ErrInvalidName, "%v", err)
		}
		abs = wd + string(filepath.Separator) + path
	}
	dirPart, base := filepath.Split(abs)
	if base == "" || base == "." || base == ".." {
		return bad(ErrInvalidName, "the name ends in a directory; name a file inside it")
	}
	real, err := filepath.EvalSymlinks(abs)
	if errors.Is(err, fs.ErrNotExist) {
		if _, lerr := os.Lstat(abs); lerr == nil {
			// Either another Open created the file just now, or abs is a
			// symlink to a missing file: SQLite would create the target, and
			// the next Open would key on another path.
			if real, err = filepath.EvalSymlinks(abs); errors.Is(err, fs.ErrNotExist) {
				return bad(ErrInvalidName, "%s is a symlink to a missing file; create the target or open it by its own path", abs)
			}
		}
	}
	switch {
	case err == nil:
		if t.info, err = checkExisting(t.name, real); err != nil {
			return target{}, err
		}
	case errors.Is(err, fs.ErrNotExist):
		dir, derr := filepath.EvalSymlinks(dirPart)
		if derr != nil {
			return bad(ErrInvalidName, "directory %s does not exist; create it first", dirPart)
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return bad(ErrInvalidName, "%s is not a directory", dirPart)
		}
		real = filepath.Join(dir, base)
	default:
		return bad(ErrInvalidName, "%v", err)
	}
	t.key = real
	t.dsn = real
	return t, nil
}

// checkExisting checks that an existing path is a regular file holding an
// SQLite database (or nothing yet, which SQLite makes a database), and
// returns what it learned of the file.
func checkExisting(name, path string) (fs.FileInfo, error) {
	bad := func(sentinel error, msg string) (fs.FileInfo, error) {
		return nil, fmt.Errorf("%w %q: %s", sentinel, name, msg)
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return bad(ErrInvalidName, err.Error())
	case fi.IsDir():
		return bad(ErrInvalidName, path+" is a directory; name a file inside it")
	case !fi.Mode().IsRegular():
		return bad(ErrInvalidName, path+" is not a regular file")
	case fi.Size() == 0:
		return fi, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return bad(ErrInvalidName, err.Error())
	}
	defer f.Close()
	head := make([]byte, 100)
	n, err := io.ReadFull(f, head)
	if n < len(sqliteHeader) || !bytes.Equal(head[:len(sqliteHeader)], sqliteHeader) {
		return bad(ErrNotDatabase, path+" does not start with the SQLite header; check the path")
	}
	// The engine's own "file is not a database" (SQLITE_NOTADB) would not
	// match ErrNotDatabase: check here what SQLite checks of the header
	// before it reads anything else.
	if err != nil {
		return bad(ErrNotDatabase, path+" ends inside the 100-byte SQLite header")
	}
	if msg := badHeader(head); msg != "" {
		return bad(ErrNotDatabase, path+" has a damaged SQLite header: "+msg)
	}
	return fi, nil
}

// badHeader describes what makes SQLite refuse a database header with
// SQLITE_NOTADB (lockBtree in btree.c), or returns "" if nothing does.
func badHeader(h []byte) string {
	pageSize := int(h[16])<<8 | int(h[17])<<16 // 1 in the header is 65536
	switch {
	case pageSize < 512 || pageSize > 65536 || pageSize&(pageSize-1) != 0:
		return fmt.Sprintf("page size %d is not a power of two from 512 to 65536", pageSize)
	case h[19] > 2:
		return fmt.Sprintf("read version %d is newer than this SQLite", h[19])
	case h[21] != 64 || h[22] != 32 || h[23] != 32:
		return fmt.Sprintf("payload fractions %d/%d/%d are not 64/32/32", h[21], h[22], h[23])
	case pageSize-int(h[20]) < 480:
		return fmt.Sprintf("%d reserved bytes leave less than 480 of a %d-byte page", h[20], pageSize)
	}
	return ""
}
