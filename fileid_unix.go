//go:build unix

package sqlitepool

import (
	"io/fs"
	"syscall"
)

// fileID is a file's identity, the same under every name it has: its
// device and inode numbers.
type fileID struct{ dev, ino uint64 }

// fileIdentity returns the identity of the file fi describes, from the
// stat that made fi. The conversions are there because the field types
// differ between systems (Dev is an int32 on Darwin).
func fileIdentity(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true
}

// fileIDs says that files have identities here: hard links are matched.
const fileIDs = true
