package dataplane

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestParseErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  *ParseError
		want string
	}{
		{
			name: "line",
			err:  &ParseError{Format: "ipvsadm -Ln", Line: 3, Text: "TCP x rr", Err: expected("address:port", `"x"`)},
			want: `ipvsadm -Ln: line 3: "TCP x rr": expected address:port; found "x"`,
		},
		{
			name: "whole input",
			err:  &ParseError{Format: "ip -j addr", Err: expected("a JSON array", "an object")},
			want: `ip -j addr: expected a JSON array; found an object`,
		},
		{
			name: "long line is cut",
			err:  &ParseError{Format: "iptables-save", Line: 1, Text: strings.Repeat("é", 300), Err: io.EOF},
			want: `iptables-save: line 1: "` + strings.Repeat("é", 100) + `...": EOF`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
	cause := io.ErrUnexpectedEOF
	if err := error(&ParseError{Format: "f", Line: 1, Err: cause}); !errors.Is(err, cause) {
		t.Errorf("errors.Is(ParseError, cause) = false, want true")
	}
}
