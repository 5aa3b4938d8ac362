package contenders

import "errors"

// errNoRow is a point read that found nothing: the keys are drawn from
// the dataset's range, so it means a broken dataset and counts as "other".
var errNoRow = errors.New("no row")

// noRow is the error of a Step that returned no row: the engine's, or
// errNoRow.
func noRow(err error) error {
	if err != nil {
		return err
	}
	return errNoRow
}
