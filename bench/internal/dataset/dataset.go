// Package dataset generates the benchmark's database: users, posts,
// comments and likes, in the proportions of the seeds' benchmark (1.2M
// users, 120K posts, 6M comments, 12M likes), scaled by the number of
// users.
package dataset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ncruces/go-sqlite3"
)

// Size is the number of rows per table.
type Size struct {
	Users, Posts, Comments, Likes int64
}

// Scaled is the seeds' proportions for a number of users: a post per 10
// users, 50 comments and 100 likes per post.
func Scaled(users int64) Size {
	posts := max(users/10, 1)
	return Size{Users: users, Posts: posts, Comments: 50 * posts, Likes: 100 * posts}
}

// The schema has no REFERENCES clauses: sqlitepool turns foreign keys on
// by default and the other contenders do not, and a write workload should
// not measure that difference.
const schema = `
CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE posts(id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE comments(id INTEGER PRIMARY KEY, post_id INTEGER NOT NULL, user_id INTEGER NOT NULL, body TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE likes(id INTEGER PRIMARY KEY, post_id INTEGER NOT NULL, user_id INTEGER NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE meta(users INTEGER, posts INTEGER, comments INTEGER, likes INTEGER);
`

const indexes = `
CREATE UNIQUE INDEX users_email ON users(email);
CREATE INDEX posts_user ON posts(user_id);
CREATE INDEX comments_post ON comments(post_id);
CREATE INDEX comments_user ON comments(user_id);
CREATE INDEX likes_post ON likes(post_id);
CREATE INDEX likes_user ON likes(user_id);
`

// Rows are generated in SQL, with a multiplicative hash (Knuth's 2654435761)
// in place of random(): the same size always gives the same database.
const fill = `
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < :users)
INSERT INTO users SELECT i, 'user ' || i, 'user' || i || '@example.com', 1600000000 + i FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < :posts)
INSERT INTO posts SELECT i, (i * 2654435761) % :users + 1, 'post ' || i,
	printf('%.200c', 'p'), 1650000000 + i FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < :comments)
INSERT INTO comments SELECT i, (i * 2654435761) % :posts + 1, (i * 40503) % :users + 1,
	'comment ' || i || ' ' || printf('%.60c', 'c'), 1660000000 + i FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < :likes)
INSERT INTO likes SELECT i, (i * 2654435761) % :posts + 1, (i * 40503) % :users + 1, 1670000000 + i FROM n;
INSERT INTO meta VALUES (:users, :posts, :comments, :likes);
`

// Cached returns the path of a pristine database of size s in dir,
// generating it on first use. Benchmarks write to a copy (see Copy), so
// the cached file stays as generated.
func Cached(ctx context.Context, dir string, s Size) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("poolbench-%d-%d-%d-%d.db", s.Users, s.Posts, s.Comments, s.Likes))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp := path + ".tmp"
	os.Remove(tmp)
	if err := generate(ctx, tmp, s); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return path, os.Rename(tmp, path)
}

func generate(ctx context.Context, path string, s Size) (err error) {
	c, err := sqlite3.OpenContext(ctx, path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	// The journal is off while filling: the file is thrown away on error.
	if err := c.Exec("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; BEGIN;" + schema); err != nil {
		return err
	}
	tail := fill
	for tail != "" {
		var stmt *sqlite3.Stmt
		stmt, tail, err = c.Prepare(tail)
		if err != nil {
			return fmt.Errorf("fill: %w", err)
		}
		if stmt == nil {
			break
		}
		for name, v := range map[string]int64{":users": s.Users, ":posts": s.Posts, ":comments": s.Comments, ":likes": s.Likes} {
			if i := stmt.BindIndex(name); i > 0 {
				stmt.BindInt64(i, v)
			}
		}
		err = stmt.Exec()
		stmt.Close()
		if err != nil {
			return fmt.Errorf("fill: %w", err)
		}
	}
	if err := c.Exec(indexes + "COMMIT; ANALYZE; PRAGMA journal_mode=WAL;"); err != nil {
		return err
	}
	return nil
}

// Copy copies the database at src to dst, for one run to write to.
func Copy(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, out.Close()) }()
	if _, err = io.Copy(out, in); err != nil {
		return err
	}
	// On disk before the first cell: otherwise the first contender to
	// checkpoint pays for flushing the whole copy (58 ms measured for the
	// default dataset, in sqlitepool's first write cell).
	return out.Sync()
}

// Read returns the size recorded in the database at path.
func Read(path string) (s Size, err error) {
	c, err := sqlite3.OpenFlags(path, sqlite3.OPEN_READONLY)
	if err != nil {
		return s, err
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	stmt, _, err := c.Prepare("SELECT users, posts, comments, likes FROM meta")
	if err != nil {
		return s, err
	}
	defer stmt.Close()
	if !stmt.Step() {
		return s, errors.Join(errors.New("no meta row"), stmt.Err())
	}
	return Size{stmt.ColumnInt64(0), stmt.ColumnInt64(1), stmt.ColumnInt64(2), stmt.ColumnInt64(3)}, nil
}
