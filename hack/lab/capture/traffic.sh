#!/bin/sh
# Traffic through one virtual server, so that the counter listings captured after it
# (ipvsadm -Ln --stats and --rate) hold real, non-zero values. Run inside the kernel lab
# guest by hack/lab/capture after state.sh's table was captured; every command must succeed.
set -eu

# A backend: a network namespace joined by a veth pair, serving HTTP on 8080.
ip netns add backend
ip link add vcap0 type veth peer name eth0 netns backend
ip addr add 10.244.9.1/24 dev vcap0
ip link set vcap0 up
ip -n backend link set lo up
ip -n backend addr add 10.244.9.2/24 dev eth0
ip -n backend link set eth0 up
ip -n backend route add default via 10.244.9.1
mkdir -p /tmp/www
echo backend >/tmp/www/index.html
ip netns exec backend busybox httpd -p 8080 -h /tmp/www

# The virtual server, its address bound to kube-ipvs0 as kube-proxy binds a ClusterIP.
ipvsadm -A -t 10.96.0.60:80 -s rr
ipvsadm -a -t 10.96.0.60:80 -r 10.244.9.2:8080 -m -w 1
ip addr add 10.96.0.60/32 dev kube-ipvs0

# Five requests from the node, each a new connection.
for i in 1 2 3 4 5; do
	busybox wget -q -O /dev/null http://10.96.0.60/
done

# The kernel adds its per-CPU counters into the ones it lists every 2 seconds (the rate
# estimator's timer): listed right away, the requests would not show yet.
sleep 3
