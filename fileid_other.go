//go:build !unix

package sqlitepool

import "io/fs"

// fileID is a file's identity. Outside Unix, os.Stat gives none that can
// key a map (Windows reads its volume and file index only when
// os.SameFile asks), so hard links are not matched there: each name of a
// file is a pool of its own.
type fileID struct{}

func fileIdentity(fs.FileInfo) (fileID, bool) { return fileID{}, false }

// fileIDs says that files have identities here: hard links are matched.
const fileIDs = false
