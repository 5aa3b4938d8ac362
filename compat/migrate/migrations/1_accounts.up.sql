CREATE TABLE accounts (
  id      INTEGER PRIMARY KEY,
  owner   TEXT NOT NULL UNIQUE,
  balance INTEGER NOT NULL
);
INSERT INTO accounts (owner, balance) VALUES ('alice', 100), ('bob', 100);
