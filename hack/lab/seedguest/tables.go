package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// newTable aligns columns as kubectl's printers do (min width 6, padding 3).
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 6, 4, 3, ' ', 0) }

func age(created, now time.Time) string {
	if created.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(created))
}

// PodTable prints Pods as `kubectl get pods [-o wide]` does.
func PodTable(w io.Writer, pods []corev1.Pod, wide bool, now time.Time) error {
	if len(pods) == 0 {
		_, err := fmt.Fprintln(w, "No resources found in default namespace.")
		return err
	}
	t := newTable(w)
	head := "NAME\tREADY\tSTATUS\tRESTARTS\tAGE"
	if wide {
		head += "\tIP\tNODE\tNOMINATED NODE\tREADINESS GATES"
	}
	fmt.Fprintln(t, head)
	for _, p := range pods {
		ready, restarts := 0, int32(0)
		for _, c := range p.Status.ContainerStatuses {
			if c.Ready {
				ready++
			}
			restarts += c.RestartCount
		}
		row := fmt.Sprintf("%s\t%d/%d\t%s\t%d\t%s", p.Name, ready, len(p.Spec.Containers), p.Status.Phase, restarts, age(p.CreationTimestamp.Time, now))
		if wide {
			row += fmt.Sprintf("\t%s\t%s\t<none>\t<none>", orNone(p.Status.PodIP), orNone(p.Spec.NodeName))
		}
		fmt.Fprintln(t, row)
	}
	return t.Flush()
}

// ServiceTable prints Services as `kubectl get svc [-o wide]` does.
func ServiceTable(w io.Writer, svcs []corev1.Service, wide bool, now time.Time) error {
	if len(svcs) == 0 {
		_, err := fmt.Fprintln(w, "No resources found in default namespace.")
		return err
	}
	t := newTable(w)
	head := "NAME\tTYPE\tCLUSTER-IP\tEXTERNAL-IP\tPORT(S)\tAGE"
	if wide {
		head += "\tSELECTOR"
	}
	fmt.Fprintln(t, head)
	for _, s := range svcs {
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", s.Name, s.Spec.Type, orNone(s.Spec.ClusterIP), externalIPs(&s), servicePorts(s.Spec.Ports), age(s.CreationTimestamp.Time, now))
		if wide {
			var sel []string
			for k, v := range s.Spec.Selector {
				sel = append(sel, k+"="+v)
			}
			slices.Sort(sel)
			row += "\t" + orNone(strings.Join(sel, ","))
		}
		fmt.Fprintln(t, row)
	}
	return t.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func externalIPs(s *corev1.Service) string {
	ips := append([]string(nil), s.Spec.ExternalIPs...)
	for _, in := range s.Status.LoadBalancer.Ingress {
		ips = append(ips, in.IP)
	}
	if len(ips) == 0 {
		if s.Spec.Type == corev1.ServiceTypeLoadBalancer {
			return "<pending>"
		}
		return "<none>"
	}
	return strings.Join(ips, ",")
}

// servicePorts is the PORT(S) column: "80/TCP", or "80:30089/TCP" with a NodePort.
func servicePorts(ports []corev1.ServicePort) string {
	var out []string
	for _, p := range ports {
		if p.NodePort != 0 {
			out = append(out, fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol))
		} else {
			out = append(out, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
		}
	}
	return orNone(strings.Join(out, ","))
}
