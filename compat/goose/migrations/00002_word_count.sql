-- A trigger body holds semicolons: goose sends it as one statement.
-- +goose Up
-- +goose StatementBegin
CREATE TRIGGER notes_words AFTER INSERT ON notes
BEGIN
  UPDATE notes
  SET words = length(NEW.body) - length(replace(NEW.body, ' ', '')) + 1
  WHERE id = NEW.id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER notes_words;
