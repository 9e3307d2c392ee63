#!/bin/sh
# A kube-proxy-like node dataplane for the parser fixtures in framework/dataplane/testdata/lab.
# Run inside the kernel lab guest by hack/lab/capture; every command must succeed.
set -eu

# --- IPVS: TCP/UDP/SCTP, IPv4+IPv6, firewall marks; rr/wrr/sh/mh/lc/wlc schedulers with
# their flags; persistence with timeout and netmask; weights 0/1/3; Masq/Route/Tunnel.
ipvsadm --set 900 120 300
ipvsadm -A -t 10.96.0.10:80 -s rr
ipvsadm -a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1
ipvsadm -a -t 10.96.0.10:80 -r 10.244.2.7:8080 -m -w 3
ipvsadm -a -t 10.96.0.10:80 -r 10.244.3.9:8080 -m -w 0
ipvsadm -A -u 10.96.0.10:53 -s wrr
ipvsadm -a -u 10.96.0.10:53 -r 10.244.1.5:53 -m -w 1
ipvsadm -a -u 10.96.0.10:53 -r 10.244.2.7:53 -m -w 1
ipvsadm -A -t 192.168.10.5:30080 -s sh -b sh-port -p 10800 -M 255.255.255.0
ipvsadm -a -t 192.168.10.5:30080 -r 10.244.1.5:8080 -m -w 1
ipvsadm -A --sctp-service 10.96.0.20:9999 -s mh -b mh-fallback,mh-port
ipvsadm -a --sctp-service 10.96.0.20:9999 -r 10.244.2.7:9999 -m -w 1
ipvsadm -A -t [fd00:10:96::a]:443 -s rr -p 180
ipvsadm -a -t [fd00:10:96::a]:443 -r [fd00:10:244:1::5]:8443 -m -w 1
ipvsadm -A -u [fd00:10:96::a]:53 -s lc
ipvsadm -a -u [fd00:10:96::a]:53 -r [fd00:10:244:1::5]:53 -m -w 1
ipvsadm -A -f 100 -s wlc
ipvsadm -a -f 100 -r 10.244.1.5 -g -w 1
ipvsadm -a -f 100 -r 10.244.2.7 -i -w 3
ipvsadm -A -f 200 -6 -s rr -p 60 -M 64
ipvsadm -a -f 200 -6 -r fd00:10:244:1::5 -g -w 1
# One-packet scheduling: /proc/net/ip_vs shows "ops" for IPv4 and mark services only.
ipvsadm -A -u 10.96.0.30:514 -s rr -o
ipvsadm -a -u 10.96.0.30:514 -r 10.244.1.5:514 -m -w 1
ipvsadm -A -u [fd00:10:96::1e]:514 -s rr -o -p 120
ipvsadm -a -u [fd00:10:96::1e]:514 -r [fd00:10:244:1::5]:514 -m -w 1
ipvsadm -A -f 300 -s rr -o
ipvsadm -a -f 300 -r 10.244.1.5 -g -w 1
# A mark of 2^31 or more, which ipvsadm prints with "%d": negative.
ipvsadm -A -f 2147483653 -s rr
ipvsadm -a -f 2147483653 -r 10.244.2.7 -g -w 1
# Addresses 2^31 or more apart (172.18/16, 100.64/10 vs 10/8), whose wrap-around
# comparison gives ipvsadm's listing its order.
ipvsadm -A -t 172.18.0.2:30089 -s rr
ipvsadm -a -t 172.18.0.2:30089 -r 10.244.3.214:80 -m -w 1
ipvsadm -a -t 172.18.0.2:30089 -r 192.168.7.7:80 -m -w 1
ipvsadm -A -t 100.64.0.1:443 -s wrr
ipvsadm -a -t 100.64.0.1:443 -r 172.18.0.3:6443 -m -w 1
ipvsadm -a -t 100.64.0.1:443 -r 10.0.0.5:6443 -m -w 3

# --- kube-ipvs0: a dummy link kube-proxy leaves down, every service address bound as /32 or /128.
ip link add kube-ipvs0 type dummy
ip addr add 10.96.0.10/32 dev kube-ipvs0
ip addr add 10.96.0.20/32 dev kube-ipvs0
ip addr add fd00:10:96::a/128 dev kube-ipvs0

# --- ipsets as kube-proxy creates them (pkg/util/ipset: family/hashsize/maxelem, bitmap range).
ipset create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
ipset add KUBE-CLUSTER-IP 10.96.0.10,tcp:80
ipset add KUBE-CLUSTER-IP 10.96.0.10,udp:53
ipset add KUBE-CLUSTER-IP 10.96.0.20,sctp:9999
ipset create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536
ipset add KUBE-LOOP-BACK 10.244.1.5,tcp:8080,10.244.1.5
ipset create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 65536
ipset add KUBE-LOAD-BALANCER-SOURCE-CIDR 192.0.2.10,tcp:80,203.0.113.0/24
ipset create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
ipset add KUBE-NODE-PORT-TCP 30080
ipset add KUBE-NODE-PORT-TCP 30443
ipset create KUBE-NODE-PORT-UDP bitmap:port range 0-65535
ipset create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536
ipset add KUBE-IPVS-IPS 10.96.0.10
ipset add KUBE-IPVS-IPS 10.96.0.20
ipset create KUBE-6-CLUSTER-IP hash:ip,port family inet6 hashsize 1024 maxelem 65536
ipset add KUBE-6-CLUSTER-IP fd00:10:96::a,tcp:443

# --- iptables (nft back end) the way kube-proxy's ipvs mode writes them, through iptables-restore.
iptables-restore --noflush <<'RULES'
*nat
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-LOAD-BALANCER - [0:0]
:KUBE-MARK-MASQ - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ
-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
COMMIT
*filter
:KUBE-FORWARD - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-SOURCE-RANGES-FIREWALL - [0:0]
:KUBE-IPVS-FILTER - [0:0]
:KUBE-IPVS-OUT-FILTER - [0:0]
-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER
-A INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL
-A INPUT -m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT
-A FORWARD -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A OUTPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-IPVS-FILTER -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT --reject-with icmp-port-unreachable
-A KUBE-IPVS-OUT-FILTER -m ipvs --vaddr 192.0.2.10/32 --vport 80 -j DROP
-A KUBE-SOURCE-RANGES-FIREWALL -j DROP
COMMIT
RULES

# --- ip6tables: the IPv6 half of a dual-stack node's nat and filter rules.
ip6tables-restore --noflush <<'RULES'
*nat
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SERVICES ! -s fd00:10:244::/56 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-6-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m set --match-set KUBE-6-CLUSTER-IP dst,dst -j ACCEPT
COMMIT
*filter
:KUBE-IPVS-FILTER - [0:0]
-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER
-A KUBE-IPVS-FILTER -m set --match-set KUBE-6-CLUSTER-IP dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-6-CLUSTER-IP dst -j REJECT --reject-with icmp6-port-unreachable
COMMIT
RULES
