-- name: CreateTodo :one
INSERT INTO todos (title, created_at)
VALUES (?, ?)
RETURNING *;

-- name: GetTodo :one
SELECT * FROM todos
WHERE id = ?;

-- name: ListTodos :many
SELECT * FROM todos
ORDER BY id
LIMIT ?;

-- name: CompleteTodo :execrows
UPDATE todos SET done = TRUE, done_at = sqlc.arg(done_at)
WHERE id = sqlc.arg(id) AND NOT done;

-- name: BumpCounter :exec
INSERT INTO counters (name, value) VALUES (?, 1)
ON CONFLICT (name) DO UPDATE SET value = value + 1;

-- name: Counts :one
SELECT
  CAST((SELECT count(*) FROM todos) AS INTEGER) AS todos,
  CAST((SELECT count(*) FROM todos WHERE done) AS INTEGER) AS done,
  CAST(coalesce((SELECT value FROM counters WHERE name = 'completed'), 0) AS INTEGER) AS completions;
