-- VACUUM cannot run inside a transaction: goose runs each statement of
-- this file on its own, outside one.
-- +goose NO TRANSACTION

-- +goose Up
CREATE INDEX notes_body ON notes (body);
VACUUM;

-- +goose Down
DROP INDEX notes_body;
