#!/usr/bin/env bash
# Ends lab runs every way they can end and prints what each left behind: processes still
# running (found through the runs' own PID records, by PID and start time, never by name)
# and run directories, right after the end and after the next run's sweep (`lab clean`).
#
#   hack/lab/exit-paths.sh [PATH...]     paths: normal int1 int3 term kill9 timeout
#
# Each run gets a temp directory of its own, so nothing of other runs is counted or touched.
set -euo pipefail
cd "$(dirname "$0")/../.."
paths=("$@")
[ ${#paths[@]} -gt 0 ] || paths=(normal int1 int3 term kill9 timeout)
for p in "${paths[@]}"; do
  case $p in normal|int1|int3|term|kill9|timeout) ;; *) echo "exit-paths: unknown path $p; expected normal int1 int3 term kill9 timeout" >&2; exit 2 ;; esac
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CGO_ENABLED=0
go build -o "$work/ipvs-e2e" ./cmd/ipvs-e2e
go test -tags e2e -c -o "$work/seedlab.test" ./suites/seedlab
bin=${BIN_DIR:-$PWD/bin}

# running DIR: the recorded processes under DIR that still run as themselves.
running() {
  local n=0 f pid start now
  while IFS= read -r f; do
    read -r pid start < "$f" || continue
    [ -r "/proc/$pid/stat" ] || continue
    now=$(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $20}')
    state=$(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $1}')
    [ "$now" = "$start" ] && [ "$state" != Z ] && n=$((n + 1))
  done < <(find "$1" -name '*.pid' ! -name owner.pid 2>/dev/null)
  echo $n
}
# rundirs DIR: run directories under DIR, and how many of them a failed run kept on purpose.
rundirs() {
  local all kept
  all=$(find "$1" -maxdepth 1 -name 'ipvs-e2e-*' -type d | wc -l)
  kept=$(find "$1" -maxdepth 2 -path '*/ipvs-e2e-*/KEPT' | wc -l)
  echo "$((all - kept)) dirs, $kept kept"
}

printf '%-8s %-5s %-8s %-30s %-30s\n' path exit stop left-after-exit left-after-next-start
for p in "${paths[@]}"; do
  tmp="$work/tmp-$p"; mkdir -p "$tmp"; log="$work/$p.log"
  if [ "$p" = timeout ]; then
    # The test binary's own -test.timeout expires while the lab cluster is up: it panics
    # and exits without running its cleanup.
    TMPDIR=$tmp IPVS_E2E_PROVIDER=lab IPVS_E2E_K8S_VERSION=v1.37.2 IPVS_E2E_CLUSTER=exit-paths \
      IPVS_E2E_IPVSDUMP=$bin/ipvsdump IPVS_E2E_LAB_NODEAGENT=$bin/ipvs-nodeagent IPVS_E2E_LAB_PROXIER=$bin/ipvs-proxier \
      IPVS_E2E_ARTIFACTS=$work/artifacts \
      setsid "$work/seedlab.test" -test.timeout 40s -test.v > "$log" 2>&1 &
  else
    TMPDIR=$tmp setsid "$work/ipvs-e2e" walk --kube-proxy v1.37.2 > "$log" 2>&1 &
  fi
  pid=$!
  start=$(date +%s.%N)
  if [ "$p" != normal ] && [ "$p" != timeout ]; then
    for _ in $(seq 1 240); do grep -q "lab cluster ready" "$log" && break; sleep 0.5; done
    grep -q "lab cluster ready" "$log" || { echo "exit-paths: $p: the lab cluster did not come up; log: $log" >&2; cat "$log" >&2; exit 1; }
    start=$(date +%s.%N)
    case $p in
      int1) kill -INT "$pid" ;;
      int3) kill -INT "$pid"; sleep 0.3; kill -INT "$pid"; sleep 0.3; kill -INT "$pid" ;;
      term) kill -TERM "$pid" ;;
      kill9) kill -KILL "$pid" ;;
    esac
  fi
  rc=0; { wait "$pid"; } 2>/dev/null || rc=$?
  took=$(echo "$(date +%s.%N) - $start" | bc)
  sleep 2
  after="$(running "$tmp") procs, $(rundirs "$tmp")"
  TMPDIR=$tmp "$work/ipvs-e2e" lab clean > /dev/null 2>&1
  next="$(running "$tmp") procs, $(rundirs "$tmp")"
  printf '%-8s %-5s %-8s %-30s %-30s\n' "$p" "$rc" "$(printf '%.1f s' "$took")" "$after" "$next"
  # Anything but a kept directory left after the next start is a failure.
  case $next in "0 procs, 0 dirs, "*) ;; *) false ;; esac || { echo "exit-paths: $p left: $next; log: $log" >&2; trap - EXIT; exit 1; }
done
