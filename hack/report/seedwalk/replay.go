package seedwalk

import (
	"errors"
	"io"

	"github.com/ipvs-e2e/ipvs-e2e/framework/tutorial/lang"
)

// Replay prints a recorded lab walk (Record.Save) as the walk printed it, in the language:
// the introduction, section 1, then each step the walk got to with its recorded output,
// exit status and time. The lab's own progress lines (the binaries, the cluster's creation)
// are not in a record, so they are not replayed; the verdict is Judge's, printed after it
// as after a walk.
func Replay(w io.Writer, l lang.Lang, rec Record) error {
	if rec.Facts.Existing {
		return errors.New("the record is of a walk on an existing cluster, whose steps run on every node: only lab walks are replayed")
	}
	printIntro(w, l, rec.Facts)
	printClaims(w, l)
	for _, s := range Script(rec.Facts) {
		if r, ok := rec.Results[s.Name]; ok {
			renderStep(w, l, rec.Facts, s, r)
		}
	}
	return nil
}
