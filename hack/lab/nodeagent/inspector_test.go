package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/workqueue"

	"github.com/ipvs-e2e/ipvs-e2e/hack/testing/wanterr"
)

// standInEnv makes the test binary a stand-in for `ipvsdump serve` (the real serve mode is
// written elsewhere): it answers /healthz and reports its arguments at /args.
const standInEnv = "NODEAGENT_TEST_STANDIN"

func TestMain(m *testing.M) {
	if os.Getenv(standInEnv) == "ipvsdump" {
		os.Exit(standInServe(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func standInServe(args []string) int {
	listen := ""
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--listen="); ok {
			listen = v
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/args", func(w http.ResponseWriter, r *http.Request) { json.NewEncoder(w).Encode(args) })
	if err := http.ListenAndServe(listen, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// inspectorPod is the node inspector's DaemonSet pod as the existing-cluster provider makes it.
func inspectorPod(port int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "ipvs-inspector-x", UID: "u1"},
		Spec: corev1.PodSpec{
			HostNetwork: true,
			Volumes:     []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}},
			Containers: []corev1.Container{{
				Name: "inspector", Image: "example.com/ipvsdump:dev",
				Command:      []string{"/ipvsdump", "serve", fmt.Sprintf("--listen=:%d", port), "--host-root=/host"},
				Ports:        []corev1.ContainerPort{{Name: "inspector", ContainerPort: int32(port)}},
				VolumeMounts: []corev1.VolumeMount{{Name: "host", MountPath: "/host", ReadOnly: true}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
					Path: "/healthz", Port: intstr.FromString("inspector")}}},
			}},
		},
	}
}

func TestInspectorPodRunsIPVSDump(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(standInEnv, "ipvsdump")
	a := &agent{
		cfg:   agentConfig{nodeIP: "127.0.0.1", stateDir: t.TempDir(), ipvsdump: self},
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
	}
	defer a.queue.ShutDown()
	pod := inspectorPod(port)
	if got := hostProcess(pod); got != "ipvsdump" {
		t.Fatalf("hostProcess = %q; expected ipvsdump", got)
	}
	rt := &podRuntime{uid: pod.UID, key: podKey(pod)}
	if err := a.startProcess(t.Context(), pod, rt); err != nil {
		t.Fatal(err)
	}
	defer rt.stop()
	deadline := time.Now().Add(15 * time.Second)
	for {
		cs, phase := rt.proc.containerStatus(pod.Spec.Containers[0], pod.UID)
		if cs.Ready && phase == corev1.PodRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container not ready 15 s after start: %+v, phase %s", cs.State, phase)
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/args", port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var args []string
	if err := json.NewDecoder(resp.Body).Decode(&args); err != nil {
		t.Fatal(err)
	}
	want := []string{"serve", fmt.Sprintf("--listen=:%d", port), "--host-root=/"}
	if !slices.Equal(args, want) {
		t.Fatalf("ipvsdump ran with %q; expected %q (the hostPath / mounted at /host is / on the node)", args, want)
	}
}

func TestHostPathArg(t *testing.T) {
	mounts := map[string]string{"/host": "/", "/run/xtables.lock": "/run/xtables.lock", "/data": "/var/lib/data"}
	for _, tc := range []struct{ in, want string }{
		{"--host-root=/host", "--host-root=/"},
		{"--host-root=/host/", "--host-root=/"},
		{"/host/proc/net/ip_vs", "/proc/net/ip_vs"},
		{"--dir=/data/x", "--dir=/var/lib/data/x"},
		{"--x=/hostile", "--x=/hostile"},
		{"--listen=:10290", "--listen=:10290"},
		{"serve", "serve"},
		{"--flag", "--flag"},
		{"/run/xtables.lock", "/run/xtables.lock"},
	} {
		if got := hostPathArg(tc.in, mounts); got != tc.want {
			t.Errorf("hostPathArg(%q) = %q; expected %q", tc.in, got, tc.want)
		}
	}
}

func TestProbeURL(t *testing.T) {
	c := corev1.Container{Name: "c", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 10290}}}
	for _, tc := range []struct {
		name    string
		get     corev1.HTTPGetAction
		want    string
		wantErr string
	}{
		{"named port", corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}, "http://10.0.2.15:10290/healthz", ""},
		{"numbered port, host, https", corev1.HTTPGetAction{Path: "readyz", Port: intstr.FromInt32(8443), Host: "127.0.0.1", Scheme: corev1.URISchemeHTTPS}, "https://127.0.0.1:8443/readyz", ""},
		{"unknown name", corev1.HTTPGetAction{Port: intstr.FromString("metrics")}, "", `readiness probe port "metrics"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := probeURL(c, &tc.get, "10.0.2.15")
			wanterr.Check(t, err, tc.wantErr)
			if got != tc.want {
				t.Errorf("probeURL = %q; expected %q", got, tc.want)
			}
		})
	}
}
