package main

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestTables(t *testing.T) {
	created := metav1.NewTime(testNow.Add(-87 * time.Second))
	pods := []corev1.Pod{{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx-test", CreationTimestamp: created},
		Spec:       corev1.PodSpec{NodeName: "node1", Containers: []corev1.Container{{Name: "nginx"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.3.214", ContainerStatuses: []corev1.ContainerStatus{{Ready: true}}},
	}}
	svcs := []corev1.Service{{
		ObjectMeta: metav1.ObjectMeta{Name: "service-test1", CreationTimestamp: metav1.NewTime(testNow.Add(-9 * time.Second))},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.106.71.137", Selector: map[string]string{"app": "my-nginx"},
			Ports: []corev1.ServicePort{{Port: 80, NodePort: 30089, Protocol: corev1.ProtocolTCP}}},
	}, {
		ObjectMeta: metav1.ObjectMeta{Name: "lb", CreationTimestamp: metav1.NewTime(testNow.Add(-3 * time.Hour))},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.0.20",
			Ports: []corev1.ServicePort{{Port: 53, Protocol: corev1.ProtocolUDP}, {Port: 443, NodePort: 31000, Protocol: corev1.ProtocolTCP}}},
	}}
	tests := []struct {
		name string
		got  func(*bytes.Buffer) error
		want string
	}{{
		// The seed's own `kubectl get pods -o wide`, with its 87s.
		name: "pods wide",
		got:  func(b *bytes.Buffer) error { return PodTable(b, pods, true, testNow) },
		want: "NAME         READY   STATUS    RESTARTS   AGE   IP             NODE    NOMINATED NODE   READINESS GATES\n" +
			"nginx-test   1/1     Running   0          87s   10.244.3.214   node1   <none>           <none>\n",
	}, {
		name: "pods",
		got:  func(b *bytes.Buffer) error { return PodTable(b, pods, false, testNow) },
		want: "NAME         READY   STATUS    RESTARTS   AGE\nnginx-test   1/1     Running   0          87s\n",
	}, {
		// The seed's `kubectl get svc`, and a LoadBalancer without ingress yet.
		name: "services",
		got:  func(b *bytes.Buffer) error { return ServiceTable(b, svcs, false, testNow) },
		want: "NAME            TYPE           CLUSTER-IP      EXTERNAL-IP   PORT(S)                AGE\n" +
			"service-test1   NodePort       10.106.71.137   <none>        80:30089/TCP           9s\n" +
			"lb              LoadBalancer   10.96.0.20      <pending>     53/UDP,443:31000/TCP   3h\n",
	}, {
		name: "services wide",
		got:  func(b *bytes.Buffer) error { return ServiceTable(b, svcs[:1], true, testNow) },
		want: "NAME            TYPE       CLUSTER-IP      EXTERNAL-IP   PORT(S)        AGE   SELECTOR\n" +
			"service-test1   NodePort   10.106.71.137   <none>        80:30089/TCP   9s    app=my-nginx\n",
	}, {
		name: "no pods",
		got:  func(b *bytes.Buffer) error { return PodTable(b, nil, true, testNow) },
		want: "No resources found in default namespace.\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := tt.got(&b); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestStatusField(t *testing.T) {
	real, err := os.ReadFile("testdata/proc-self-status.txt")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, text, field string
		want              float64
		wantErr           string
	}{
		{name: "VmRSS of a real status", text: string(real), field: "VmRSS", want: fieldKB(t, string(real), "VmRSS") / 1024},
		{name: "VmHWM of a real status", text: string(real), field: "VmHWM", want: fieldKB(t, string(real), "VmHWM") / 1024},
		{name: "missing", text: "Name:\tx\n", field: "VmRSS", wantErr: "no VmRSS line"},
		{name: "not a number", text: "VmRSS:\t lots kB\n", field: "VmRSS", wantErr: "not a number of kB"},
		{name: "a longer name is another field", text: "VmRSSX:\t1 kB\nVmRSS:\t2048 kB\n", field: "VmRSS", want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := statusField(strings.NewReader(tt.text), tt.field)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want || got <= 0 {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// fieldKB reads a field independently of statusField: the number before " kB".
func fieldKB(t *testing.T, text, field string) float64 {
	t.Helper()
	for l := range strings.Lines(text) {
		if f := strings.Fields(l); len(f) == 3 && f[0] == field+":" && f[2] == "kB" {
			var v float64
			for _, c := range f[1] {
				v = v*10 + float64(c-'0')
			}
			return v
		}
	}
	t.Fatalf("no %s in the testdata", field)
	return 0
}

func FuzzStatusField(f *testing.F) {
	real, err := os.ReadFile("testdata/proc-self-status.txt")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(real), "VmRSS")
	f.Add("VmHWM:\t   61544 kB\n", "VmHWM")
	f.Fuzz(func(t *testing.T, text, field string) {
		v, err := statusField(strings.NewReader(text), field)
		if err == nil && v != v {
			t.Errorf("NaN without an error for %q", text)
		}
	})
}

func TestSelectMetrics(t *testing.T) {
	text := `# HELP kubeproxy_sync_proxy_rules_duration_seconds SyncProxyRules latency in seconds
# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram
kubeproxy_sync_proxy_rules_duration_seconds_bucket{ip_family="IPv4",le="0.001"} 0
kubeproxy_sync_proxy_rules_duration_seconds_sum{ip_family="IPv4"} 2.07
kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv4"} 2
kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} 1.79e+09
`
	got := selectMetrics(text, "kubeproxy_sync_proxy_rules_duration_seconds_count", "kubeproxy_sync_proxy_rules_last_timestamp_seconds")
	want := []string{`kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv4"} 2`, `kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} 1.79e+09`}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := selectMetrics(text, "kubeproxy_sync_proxy_rules_duration_seconds"); len(got) != 0 {
		t.Errorf("a histogram's base name matched its series: %q", got)
	}
}

func TestBenchObjects(t *testing.T) {
	// Addresses stay distinct and inside their ranges up to the largest run.
	seen := map[string]bool{}
	for _, i := range []int{0, 1, 255, 256, 9999} {
		svc := benchService(i)
		es := benchSlice(i, "node1", true)
		for _, a := range []string{svc.Spec.ClusterIP, es.Endpoints[0].Addresses[0], es.Endpoints[1].Addresses[0], es.Endpoints[2].Addresses[0]} {
			if seen[a] {
				t.Errorf("address %s used twice", a)
			}
			seen[a] = true
		}
		if es.Labels["kubernetes.io/service-name"] != svc.Name || len(es.Endpoints) != 3 || es.ResourceVersion == benchSlice(i, "node1", false).ResourceVersion {
			t.Errorf("slice %d: %+v", i, es.ObjectMeta)
		}
	}
	if got := benchService(9999).Spec.ClusterIP; got != "10.96.39.25" {
		t.Errorf("ClusterIP of Service 9999 = %s, want 10.96.39.25 (10.96.0.10 + 9999)", got)
	}
	if got := benchEndpoint(9999, 1).String(); got != "10.244.78.33" {
		t.Errorf("second endpoint of Service 9999 = %s, want 10.244.78.33 (10.244.0.2 + 19999)", got)
	}
}
