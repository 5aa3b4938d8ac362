-- A small bank: money moves between accounts, never appears or vanishes.
CREATE TABLE accounts (
  id         INTEGER PRIMARY KEY,
  owner      TEXT    NOT NULL UNIQUE,
  balance    INTEGER NOT NULL DEFAULT 0,
  created_at DATETIME NOT NULL
);

CREATE TABLE transfers (
  id         INTEGER PRIMARY KEY,
  from_id    INTEGER NOT NULL REFERENCES accounts (id),
  to_id      INTEGER NOT NULL REFERENCES accounts (id),
  amount     INTEGER NOT NULL CHECK (amount > 0),
  note       TEXT,
  settled    BOOLEAN NOT NULL DEFAULT FALSE,
  created_at DATETIME NOT NULL
);

CREATE INDEX transfers_from ON transfers (from_id);
