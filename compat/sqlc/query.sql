-- name: CreateAccount :one
INSERT INTO accounts (owner, balance, created_at)
VALUES (?, ?, ?)
RETURNING *;

-- name: GetAccount :one
SELECT * FROM accounts
WHERE id = ?;

-- name: ListAccounts :many
SELECT * FROM accounts
ORDER BY id;

-- name: AddBalance :execrows
UPDATE accounts SET balance = balance + sqlc.arg(delta)
WHERE id = sqlc.arg(id);

-- name: CreateTransfer :one
INSERT INTO transfers (from_id, to_id, amount, note, created_at)
VALUES (?, ?, ?, ?, ?)
RETURNING id;

-- name: GetTransfer :one
SELECT * FROM transfers
WHERE id = ?;

-- name: ListTransfersFrom :many
SELECT * FROM transfers
WHERE from_id = ?
ORDER BY id;

-- name: SettleTransfer :execresult
UPDATE transfers SET settled = TRUE
WHERE id = ? AND NOT settled;

-- name: TotalBalance :one
SELECT CAST(coalesce(sum(balance), 0) AS INTEGER) AS total
FROM accounts;

-- name: CountTransfers :one
SELECT count(*) AS n, CAST(coalesce(sum(settled), 0) AS INTEGER) AS settled
FROM transfers;

-- name: NetFlow :one
SELECT
  CAST(coalesce((SELECT sum(amount) FROM transfers t WHERE t.to_id = sqlc.arg(id)), 0) AS INTEGER) AS incoming,
  CAST(coalesce((SELECT sum(amount) FROM transfers t WHERE t.from_id = sqlc.arg(id)), 0) AS INTEGER) AS outgoing;
