package benchcmd

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

func TestParseNs(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{"100,1000", []int{100, 1000}, false},
		{"10_000, 100,100", []int{100, 10000}, false},
		{"1000,", []int{1000}, false},
		{"", nil, true},
		{"0", nil, true},
		{"1e3", nil, true},
		{"100000", nil, true},
	}
	for _, tt := range tests {
		got, err := parseNs(tt.in)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("parseNs(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestClusterFlagsValidation(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--churn", "1s"}, "--churn 1s: expected 0 (no churn phase) or from 5s to 30m"},
		{[]string{"--churn", "2h"}, "--churn 2h0m0s"},
		{[]string{"--churn-n", "x"}, "--churn-n"},
		{[]string{"--churn", "soon"}, "invalid argument"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := NewCommand()
			cmd.SetArgs(append([]string{"cluster", "--out", t.TempDir()}, tt.args...))
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			wanterr.Check(t, cmd.Execute(), tt.wantErr)
		})
	}
}
