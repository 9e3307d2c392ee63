package controlplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/rundir"
)

// Component names, as processes and log files are called.
const (
	Etcd                  = "etcd"
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
)

// stateFile records a running control plane in its run dir, for StopRecorded.
const stateFile = "controlplane.json"

// Process describes one running component.
type Process struct {
	Name    string
	PID     int
	Binary  string
	LogFile string
}

// ControlPlane is a running etcd + kube-apiserver + kube-controller-manager.
type ControlPlane struct {
	// RunDir holds everything the control plane wrote; logs are in RunDir/logs.
	RunDir string
	PKI    *PKI
	// APIServerURL is https://127.0.0.1:6443; GuestAPIServerURL is the same apiserver as a
	// lab guest reaches it (https://10.0.2.2:6443).
	APIServerURL, GuestAPIServerURL string
	// AdminKubeconfig (system:masters) and ControllerManagerKubeconfig point at
	// APIServerURL; KubeProxyKubeconfig (system:kube-proxy) points at GuestAPIServerURL.
	AdminKubeconfig, ControllerManagerKubeconfig, KubeProxyKubeconfig string

	opts  Options
	procs []*process // in start order
	// specs are how each component was started, for Restart.
	specs map[string]componentSpec

	mu       sync.Mutex
	stopping bool
	err      error         // why done was closed
	done     chan struct{} // closed when a component exits or the control plane is stopped
	stopOnce sync.Once
	stopErr  error
}

// Start brings the control plane up and returns once the apiserver is ready, the
// controller manager is healthy and the default ServiceAccount exists (so Pods can be
// created). It stops whatever it started if any step fails; the error then carries the end
// of the failing component's log. Unless opts.Detached, the control plane is stopped when
// ctx is done; call Stop to stop it earlier and to wait for that either way.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	for _, port := range o.Ports.list() {
		if err := portFree(port); err != nil {
			return nil, fmt.Errorf("cannot start the control plane: %w; is another one running? (`ss -ltnp 'sport = :%d'`; a detached one stops with `ipvs-e2e upstream controlplane down`)", err, port)
		}
	}
	switch {
	case o.RunDir != "":
	case o.Detached:
		// Outlives this process on purpose, so no owner record a sweep would act on.
		if o.RunDir, err = os.MkdirTemp("", "ipvs-e2e-controlplane-"); err != nil {
			return nil, err
		}
	default:
		d, err := rundir.New("controlplane")
		if err != nil {
			return nil, err
		}
		o.RunDir = d.Path
	}
	logDir := filepath.Join(o.RunDir, "logs")
	dataDir := filepath.Join(o.RunDir, "etcd-data")
	if err := os.RemoveAll(dataDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	pki, err := NewPKI(filepath.Join(o.RunDir, "pki"), pkiOptions(o))
	if err != nil {
		return nil, fmt.Errorf("generating the control plane's PKI: %w", err)
	}
	cp := &ControlPlane{
		RunDir:                      o.RunDir,
		PKI:                         pki,
		APIServerURL:                apiServerURL(o),
		GuestAPIServerURL:           guestAPIServerURL(o),
		AdminKubeconfig:             filepath.Join(o.RunDir, "admin.kubeconfig"),
		ControllerManagerKubeconfig: filepath.Join(o.RunDir, "controller-manager.kubeconfig"),
		KubeProxyKubeconfig:         filepath.Join(o.RunDir, "kube-proxy.kubeconfig"),
		opts:                        o,
		done:                        make(chan struct{}),
	}
	for _, k := range []struct {
		path, server string
		user         User
	}{
		{cp.AdminKubeconfig, cp.APIServerURL, pki.Admin},
		{cp.ControllerManagerKubeconfig, cp.APIServerURL, pki.ControllerManager},
		{cp.KubeProxyKubeconfig, cp.GuestAPIServerURL, pki.KubeProxy},
	} {
		if err := WriteKubeconfig(k.path, Kubeconfig{Server: k.server, CAData: pki.CAData, User: k.user.Name, Token: k.user.Token}); err != nil {
			return nil, err
		}
	}

	start := time.Now()
	steps := []componentSpec{
		{Etcd, o.Binaries.Etcd, etcdArgs(o, dataDir), nil, cp.etcdHealthy},
		{KubeAPIServer, o.Binaries.KubeAPIServer, apiServerArgs(o, pki), o.APIServerEnv, cp.apiServerReady},
		{KubeControllerManager, o.Binaries.KubeControllerManager, controllerManagerArgs(o, pki, cp.ControllerManagerKubeconfig), nil, cp.controllerManagerReady},
	}
	cp.specs = map[string]componentSpec{}
	for _, s := range steps {
		cp.specs[s.name] = s
		t := time.Now()
		p, err := startProcess(s.name, s.binary, s.args, s.env, filepath.Join(logDir, s.name+".log"), o.RunDir, o.Detached)
		if err != nil {
			return nil, cp.abort(err)
		}
		cp.procs = append(cp.procs, p)
		if err := cp.waitReady(ctx, p, s.ready); err != nil {
			return nil, cp.abort(err)
		}
		o.Logger.Info(fmt.Sprintf("controlplane: %s ready in %s (pid %d)", s.name, time.Since(t).Round(10*time.Millisecond), p.pid))
	}
	// Pod admission needs the default ServiceAccount, which the controller manager creates.
	if err := cp.waitReady(ctx, cp.procs[2], cp.defaultServiceAccountExists); err != nil {
		return nil, cp.abort(err)
	}
	if err := cp.checkLoopbackOnly(); err != nil {
		return nil, cp.abort(err)
	}
	if err := cp.writeState(); err != nil {
		return nil, cp.abort(err)
	}
	o.Logger.Info(fmt.Sprintf("controlplane: up in %s; KUBECONFIG=%s", time.Since(start).Round(10*time.Millisecond), cp.AdminKubeconfig))

	for _, p := range cp.procs {
		cp.watch(p)
	}
	if !o.Detached {
		go func() {
			select {
			case <-ctx.Done():
				cp.Stop()
			case <-cp.done:
			}
		}()
	}
	return cp, nil
}

// componentSpec is how a component starts and how its readiness is told.
type componentSpec struct {
	name, binary string
	args         []string
	// env is added to the environment the component inherits.
	env   []string
	ready func(context.Context) error
}

// watch ends the control plane when p exits on its own; a process Restart replaces does not.
func (cp *ControlPlane) watch(p *process) {
	go func() {
		<-p.exited
		if !p.replaced.Load() {
			cp.finish(p.failure("exited"))
		}
	}()
}

// Restart stops one component (by its PID, as Stop does), leaves it down for down, then
// starts it again with the same arguments and data and waits until it is ready: a fault a
// test injects. The control plane does not count the stop as a failure.
func (cp *ControlPlane) Restart(ctx context.Context, name string, down time.Duration) error {
	spec, ok := cp.specs[name]
	if !ok {
		return fmt.Errorf("restart %q: expected one of %s, %s, %s", name, Etcd, KubeAPIServer, KubeControllerManager)
	}
	cp.mu.Lock()
	i := slices.IndexFunc(cp.procs, func(p *process) bool { return p.name == name })
	old := cp.procs[i]
	stopping := cp.stopping
	cp.mu.Unlock()
	if stopping {
		return fmt.Errorf("restart %s: the control plane is stopping", name)
	}
	old.replaced.Store(true)
	if _, err := old.stop(cp.opts.StopGrace); err != nil {
		return err
	}
	cp.opts.Logger.Info(fmt.Sprintf("controlplane: %s (pid %d) stopped; down for %s", name, old.pid, down))
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(down):
	}
	// Under mu, so that a Stop meanwhile either sees the new process or prevents it.
	cp.mu.Lock()
	if cp.stopping {
		cp.mu.Unlock()
		return fmt.Errorf("restart %s: the control plane was stopped while %s was down", name, name)
	}
	p, err := startProcess(name, spec.binary, spec.args, spec.env, old.logFile, cp.RunDir, cp.opts.Detached)
	if err == nil {
		cp.procs[i] = p
	}
	cp.mu.Unlock()
	if err != nil {
		return err
	}
	cp.watch(p)
	t := time.Now()
	if err := cp.waitReady(ctx, p, spec.ready); err != nil {
		return fmt.Errorf("restart %s: %w", name, err)
	}
	cp.opts.Logger.Info(fmt.Sprintf("controlplane: %s ready again in %s (pid %d)", name, time.Since(t).Round(10*time.Millisecond), p.pid))
	return cp.writeState()
}

// abort stops what Start started and returns err.
func (cp *ControlPlane) abort(err error) error {
	if stopErr := cp.Stop(); stopErr != nil {
		err = errors.Join(err, stopErr)
	}
	return fmt.Errorf("%w\n(control plane files in %s)", err, cp.RunDir)
}

// waitReady polls ready until it succeeds, p or a component started before it exits, ctx
// is done or ReadyTimeout passes.
func (cp *ControlPlane) waitReady(ctx context.Context, p *process, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, cp.opts.ReadyTimeout)
	defer cancel()
	var last error
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 5*time.Second)
		last = ready(attempt)
		cancelAttempt()
		if last == nil {
			return nil
		}
		for _, q := range cp.procs {
			if !q.alive() {
				return q.failure("exited while starting")
			}
		}
		select {
		case <-p.exited:
			return p.failure("exited while starting")
		case <-ctx.Done():
			return fmt.Errorf("%s (pid %d) not ready after %s: %v; last lines of %s:\n%s",
				p.name, p.pid, cp.opts.ReadyTimeout, last, p.logFile, logTail(p.logFile, 25))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (cp *ControlPlane) etcdHealthy(ctx context.Context) error {
	body, err := httpGet(ctx, http.DefaultClient, etcdClientURL(cp.opts)+"/health", "")
	if err != nil {
		return err
	}
	var h struct{ Health string }
	if json.Unmarshal(body, &h) != nil || h.Health != "true" {
		return fmt.Errorf("/health answered %q, want health true", body)
	}
	return nil
}

func (cp *ControlPlane) apiServerReady(ctx context.Context) error {
	_, err := httpGet(ctx, cp.httpClient(), cp.APIServerURL+"/readyz", cp.PKI.Admin.Token)
	return err
}

func (cp *ControlPlane) controllerManagerReady(ctx context.Context) error {
	_, err := httpGet(ctx, cp.httpClient(), "https://"+hostPort(cp.opts.Ports.ControllerManager)+"/healthz", "")
	return err
}

func (cp *ControlPlane) defaultServiceAccountExists(ctx context.Context) error {
	cs, err := cp.Clientset()
	if err != nil {
		return err
	}
	_, err = cs.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return errors.New("the controller manager has not created the default ServiceAccount yet")
	}
	return err
}

// httpClient trusts the control plane's CA only.
func (cp *ControlPlane) httpClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cp.PKI.CAData)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func httpGet(ctx context.Context, c *http.Client, url, token string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// checkLoopbackOnly makes sure no component listens beyond 127.0.0.1: a flag default that
// binds 0.0.0.0 in some release must not expose the lab's cluster.
func (cp *ControlPlane) checkLoopbackOnly() error {
	for _, p := range cp.procs {
		addrs, err := Listeners(p.pid)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if !a.Addr().IsLoopback() {
				return fmt.Errorf("%s (pid %d) listens on %s; every lab component must listen on %s only", p.name, p.pid, a, Loopback)
			}
		}
	}
	return nil
}

// Processes lists the running components in start order.
func (cp *ControlPlane) Processes() []Process {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	out := make([]Process, len(cp.procs))
	for i, p := range cp.procs {
		out[i] = Process{Name: p.name, PID: p.pid, Binary: p.binary, LogFile: p.logFile}
	}
	return out
}

// RESTConfig is the admin's client configuration.
func (cp *ControlPlane) RESTConfig() *rest.Config {
	return &rest.Config{
		Host:            cp.APIServerURL,
		BearerToken:     cp.PKI.Admin.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: cp.PKI.CAData},
		QPS:             100,
		Burst:           200,
	}
}

// Clientset is an admin clientset.
func (cp *ControlPlane) Clientset() (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfig(cp.RESTConfig())
}

// Done is closed when a component exits on its own or the control plane is stopped.
func (cp *ControlPlane) Done() <-chan struct{} { return cp.done }

// Err says why Done was closed: nil after Stop, else which component exited and its log.
func (cp *ControlPlane) Err() error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.err
}

func (cp *ControlPlane) finish(err error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	select {
	case <-cp.done:
		return
	default:
	}
	if !cp.stopping {
		cp.err = err
	}
	close(cp.done)
}

// Stop stops the components in reverse start order, each by its PID with SIGTERM and, after
// the grace period, SIGKILL, and returns once they are reaped and their ports are free.
// etcd's data is removed; logs and PKI stay in RunDir. Stop may be called more than once.
func (cp *ControlPlane) Stop() error {
	cp.stopOnce.Do(func() {
		cp.mu.Lock()
		cp.stopping = true
		procs := slices.Clone(cp.procs)
		cp.mu.Unlock()
		var errs []error
		for i := len(procs) - 1; i >= 0; i-- {
			p := procs[i]
			if !p.alive() {
				cp.opts.Logger.Info(fmt.Sprintf("controlplane: %s (pid %d) had already exited", p.name, p.pid))
				continue
			}
			t := time.Now()
			killed, err := p.stop(cp.opts.StopGrace)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			how := "stopped"
			if killed {
				how = fmt.Sprintf("killed (no exit %s after SIGTERM)", cp.opts.StopGrace)
			}
			cp.opts.Logger.Info(fmt.Sprintf("controlplane: %s %s (pid %d) in %s", how, p.name, p.pid, time.Since(t).Round(10*time.Millisecond)))
		}
		errs = append(errs, waitPortsFree(cp.opts.Ports.list(), 10*time.Second))
		errs = append(errs, os.RemoveAll(filepath.Join(cp.RunDir, "etcd-data")))
		if err := os.Remove(filepath.Join(cp.RunDir, stateFile)); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
		cp.stopErr = errors.Join(errs...)
		cp.finish(nil)
	})
	return cp.stopErr
}

// state is the content of the state file.
type state struct {
	Processes []Process
	Ports     Ports
}

func (cp *ControlPlane) writeState() error {
	data, err := json.MarshalIndent(state{Processes: cp.Processes(), Ports: cp.opts.Ports}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(cp.RunDir, stateFile), append(data, '\n'), 0o644)
}

// StopRecorded stops the control plane recorded in runDir by another process (a detached
// `ipvs-e2e upstream controlplane up`): each component by its recorded PID, provided that PID
// still runs the recorded binary. Nothing recorded is not an error.
func StopRecorded(runDir string, grace time.Duration, log func(string)) error {
	data, err := os.ReadFile(filepath.Join(runDir, stateFile))
	if os.IsNotExist(err) {
		log(fmt.Sprintf("controlplane: nothing recorded in %s", runDir))
		return nil
	}
	if err != nil {
		return err
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("reading %s: %w", filepath.Join(runDir, stateFile), err)
	}
	var errs []error
	for i := len(st.Processes) - 1; i >= 0; i-- {
		p := st.Processes[i]
		stopped, err := stopPID(p.Name, p.PID, p.Binary, grace)
		switch {
		case err != nil:
			errs = append(errs, err)
		case stopped:
			log(fmt.Sprintf("controlplane: stopped %s (pid %d)", p.Name, p.PID))
		default:
			log(fmt.Sprintf("controlplane: %s (pid %d) was not running", p.Name, p.PID))
		}
	}
	if st.Ports != (Ports{}) {
		errs = append(errs, waitPortsFree(st.Ports.list(), 10*time.Second))
	}
	if errors.Join(errs...) == nil {
		errs = append(errs, os.Remove(filepath.Join(runDir, stateFile)), os.RemoveAll(filepath.Join(runDir, "etcd-data")))
	}
	return errors.Join(errs...)
}

// portFree reports whether a server could bind 127.0.0.1:port now.
func portFree(port int) error {
	l, err := net.Listen("tcp", hostPort(port))
	if err != nil {
		return fmt.Errorf("%s is in use", hostPort(port))
	}
	return l.Close()
}

func waitPortsFree(ports []int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for _, port := range ports {
		for portFree(port) != nil {
			if time.Now().After(deadline) {
				return fmt.Errorf("%s still in use %s after the control plane stopped", hostPort(port), d)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}
