-- Run by the server's init on every start: IF NOT EXISTS keeps what is there.
CREATE TABLE IF NOT EXISTS todos (
  id         INTEGER  PRIMARY KEY,
  title      TEXT     NOT NULL CHECK (title <> ''),
  done       BOOLEAN  NOT NULL DEFAULT FALSE,
  created_at DATETIME NOT NULL,
  done_at    DATETIME
);

CREATE TABLE IF NOT EXISTS counters (
  name  TEXT    PRIMARY KEY,
  value INTEGER NOT NULL
);
