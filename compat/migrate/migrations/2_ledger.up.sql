CREATE TABLE ledger (
  id         INTEGER PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts (id),
  delta      INTEGER NOT NULL
);
CREATE TRIGGER ledger_apply AFTER INSERT ON ledger
BEGIN
  UPDATE accounts SET balance = balance + NEW.delta WHERE id = NEW.account_id;
END;
