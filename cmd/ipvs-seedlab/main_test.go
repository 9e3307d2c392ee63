package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Usage mistakes are caught before anything is built or booted.
func TestUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		out  string
	}{
		{args: []string{"help"}, code: 0, out: "ipvs-seedlab bench"},
		{args: []string{"nonsense"}, code: 2, out: `unknown command "nonsense"`},
		{args: []string{"help"}, code: 0, out: "ipvs-seedlab [walk] [-kube-proxy"},
		{args: []string{"walk", "extra"}, code: 2},
		{args: []string{"walk", "-method", "edit"}, code: 2, out: `method "edit": expected`},
		{args: []string{"-kube-proxy", "reference", "-method", "configmap"}, code: 2, out: "implements ipvs mode only"},
		{args: []string{"-kube-proxy", "1.37"}, code: 2, out: "expected a release such as v1.37.2"},
		{args: []string{"-nonsense"}, code: 2, out: "flag provided but not defined"},
		{args: []string{"bench", "-n", "100,x"}, code: 2, out: "expected positive Service counts"},
		{args: []string{"bench", "-n", "0"}, code: 2, out: "expected positive Service counts"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			if code := run(context.Background(), tt.args, &out, &out); code != tt.code || !strings.Contains(out.String(), tt.out) {
				t.Errorf("exit %d, output:\n%s\nwant exit %d and %q", code, out.String(), tt.code, tt.out)
			}
		})
	}
}
