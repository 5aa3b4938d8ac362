DROP TRIGGER ledger_apply;
DROP TABLE ledger;
