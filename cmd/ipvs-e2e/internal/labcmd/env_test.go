package labcmd

import "testing"

func TestCheckEnv(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
	}{
		{in: "IPVS_E2E_SEQUENCE_SEED=42"},
		{in: "A="},
		{in: "_x1=a b=c"},
		{in: "NOVALUE", wantErr: true},
		{in: "=1", wantErr: true},
		{in: "1A=1", wantErr: true},
		{in: "A-B=1", wantErr: true},
		{in: "A B=1", wantErr: true},
	}
	for _, tc := range tests {
		if err := checkEnv(tc.in); (err != nil) != tc.wantErr {
			t.Errorf("checkEnv(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
		}
	}
}
