package dataplane

import "testing"

func TestParseIPVSAdmSaveForms(t *testing.T) {
	tests := []struct {
		name, text string
		want       IPVS
	}{
		{
			name: "kube-proxy ClusterIP",
			text: "-A -t 10.96.0.1:443 -s rr\n-a -t 10.96.0.1:443 -r 10.0.0.1:6443 -m -w 1\n",
			want: IPVS{Services: []VirtualServer{tcpService("10.96.0.1", 443, "rr", masq("10.0.0.1", 6443, 1, 0, 0))}},
		},
		{
			name: "long options, defaults and affinity",
			text: "--add-service --udp-service 10.96.0.10:53 --persistent --netmask 255.255.0.0 --ops\n" +
				"--add-server --udp-service 10.96.0.10:53 --real-server 10.244.0.3 --masquerading --weight 0\n" +
				"--add-server --udp-service 10.96.0.10:53 --real-server 10.244.0.4:5353\n",
			want: IPVS{Services: []VirtualServer{{Protocol: UDP, Family: 4, Address: addr("10.96.0.10"), Port: 53, Scheduler: "wlc",
				Persistent: true, Timeout: 300, PrefixLen: 16, OnePacket: true,
				RealServers: []RealServer{masq("10.244.0.3", 53, 0, 0, 0), {Address: addr("10.244.0.4"), Port: 5353, Forward: Route, Weight: 1}}}}},
		},
		{
			name: "sctp, ipv6, fwmark",
			text: "-A --sctp-service [fd00::1]:3868 -s mh -p 60 -M 64 -b mh-fallback\n" +
				"-a --sctp-service [fd00::1]:3868 -r [fd00::2] -i -w 3 --tun-type ipip\n" +
				"-A -f 9 -6 -s rr\n",
			want: IPVS{Services: []VirtualServer{
				{Protocol: SCTP, Family: 6, Address: addr("fd00::1"), Port: 3868, Scheduler: "mh", Persistent: true, Timeout: 60, PrefixLen: 64, SchedFlags: SchedFlag1,
					RealServers: []RealServer{{Address: addr("fd00::2"), Port: 3868, Forward: Tunnel, Weight: 3}}},
				{FWMark: 9, Family: 6, Scheduler: "rr"},
			}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkReadsAs(t, "the text", ParseIPVSAdmSave, tc.text, tc.want)
			checkReadsAs(t, "FormatIPVSAdmSave(want)", ParseIPVSAdmSave, FormatIPVSAdmSave(tc.want), tc.want)
		})
	}
}

func TestParseIPVSAdmSaveBadInput(t *testing.T) {
	checkBadInput(t, "ipvsadm -Sn", ParseIPVSAdmSave, []badInput{
		{name: "server before service", text: "-a -t 10.0.0.1:80 -r 10.0.0.2:80 -m -w 1\n", line: 1, want: "the -A line of TCP 10.0.0.1:80 before"},
		{name: "unknown command", text: "-E -t 10.0.0.1:80 -s rr\n", line: 1, want: `"-A" (add service) or "-a"`},
		{name: "no service", text: "-A -s rr\n", line: 1, want: "expected a service"},
		{name: "no real server", text: "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -m\n", line: 2, want: "a real server (-r)"},
		{name: "scheduler on -a", text: "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.2 -s rr\n", line: 2, want: "no scheduler on a real server line"},
		{name: "weight on -A", text: "-A -t 10.0.0.1:80 -w 2\n", line: 1, want: "no real server options"},
		{name: "mask without -p", text: "-A -t 10.0.0.1:80 -M 255.0.0.0\n", line: 1, want: "-M only with -p"},
		{name: "persistence engine", text: "-A -u 10.0.0.1:5060 -s rr -p 60 --pe sip\n", line: 1, want: `found "--pe"`},
		{name: "gre tunnel", text: "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gre\n", line: 2, want: "tunnel type ipip"},
		{name: "-6 without -f", text: "-A -t 10.0.0.1:80 -6\n", line: 1, want: "-6 only after -f"},
		{name: "two methods", text: "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.2 -m -g\n", line: 2, want: "one forwarding method"},
		{name: "value missing", text: "-A -t\n", line: 1, want: "a value after -t"},
		{name: "bad flags", text: "-A -t 10.0.0.1:80 -s sh -b flag-1\n", line: 1, want: "sh-fallback or sh-port"},
		{name: "duplicate server", text: "-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.2:80\n-a -t 10.0.0.1:80 -r 10.0.0.2:80 -m\n", line: 3, want: "each real server added once"},
		{name: "duplicate service", text: "-A -f 1\n-A -f 1 -s rr\n", line: 2, want: "each service added once"},
	})
}
