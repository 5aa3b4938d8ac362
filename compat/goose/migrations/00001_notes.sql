-- +goose Up
CREATE TABLE notes (
  id    INTEGER PRIMARY KEY,
  body  TEXT NOT NULL,
  words INTEGER
);

-- +goose Down
DROP TABLE notes;
