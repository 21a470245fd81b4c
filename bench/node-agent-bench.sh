#!/usr/bin/env bash
# node-agent footprint and probe-cycle benchmark (a measurement, not a test).
#
# Starts 100 local proxy peers — TLS servers that demand a client certificate like Teleport's
# peer port, listeners that accept and never answer, closed ports, and (when this host lets us make a
# bridge) 198.18.99.x addresses whose SYNs go nowhere — then runs the packaged agent with the JVM
# settings from docs/node-agent.md and prints steady-state RSS, startup time and probe-cycle duration
# next to their targets.
#
#   bench/node-agent-bench.sh                # default: 60 s of steady state
#   BENCH_SECONDS=120 bench/node-agent-bench.sh
#   NODE_AGENT_JAVA_OPTS="-XX:+UseSerialGC ..." bench/node-agent-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

JAR=$ROOT/node-agent/target/node-agent.jar
BENCH_SECONDS=${BENCH_SECONDS:-60}
PROBE_INTERVAL_S=5
PROBE_TIMEOUT_S=3
# The settings docs/node-agent.md recommends for the systemd unit (Environment= and ExecStart=).
# The role's JVM options (roles/node_agent/defaults/main.yml) unless NODE_AGENT_JAVA_OPTS says otherwise.
JAVA_OPTS=${NODE_AGENT_JAVA_OPTS:-$("$(dirname "$0")/../.venv/bin/python" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["node_agent_jvm_opts"])' "$(dirname "$0")/../roles/node_agent/defaults/main.yml")}
export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-1} MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-65536} MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-65536}
RSS_TARGET_MIB=64
BRIDGE=na-bench0

[[ -f $JAR ]] || nice mvn -B -ntp -q -pl node-agent -am package -DskipTests
for tool in openssl python3 curl java; do
  command -v "$tool" >/dev/null || { echo "bench: needs $tool on PATH" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/node-agent-bench.XXXXXX)
SIM_PID='' AGENT_PID='' MADE_BRIDGE=''
cleanup() {
  if [[ -n $AGENT_PID ]]; then kill "$AGENT_PID" 2>/dev/null || true; fi
  if [[ -n $SIM_PID ]]; then kill "$SIM_PID" 2>/dev/null || true; fi
  if [[ -n $MADE_BRIDGE ]]; then ip link del "$BRIDGE" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- a throwaway CA, a peer host certificate and a candidate pair for the agent to install ---------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=bench CA" \
  -keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
issue() { # name sans
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" -keyout "$WORK/$1.key" -out "$WORK/$1.csr" 2>/dev/null
  openssl x509 -req -in "$WORK/$1.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial -days 30 \
    -extfile <(printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\n' "$2") -out "$WORK/$1.crt" 2>/dev/null
}
issue peer "DNS:localhost,IP:127.0.0.1"
issue proxy "DNS:teleport.example.com,DNS:*.teleport.example.com"

# --- 198.18.99.0/24 on a bridge with no ports: SYNs to it are sent and never answered ----------------
BLACKHOLE=()
if ip link add "$BRIDGE" type bridge 2>/dev/null; then
  MADE_BRIDGE=1
  ip addr add 198.18.99.1/24 dev "$BRIDGE"
  ip link set "$BRIDGE" up
  for i in $(seq 10 19); do
    # A permanent neighbour entry: no ARP wait, the SYN goes out and is lost, a true connect timeout.
    ip neigh replace "198.18.99.$i" lladdr "02:00:00:00:00:$i" dev "$BRIDGE" nud permanent
    BLACKHOLE+=("198.18.99.$i:3021")
  done
else
  echo "note: cannot create bridge $BRIDGE (not root?); using 10 more silent loopback listeners instead"
fi

# --- the peers ---------------------------------------------------------------------------------------
N_TLS=70 N_SILENT=$((15 + 10 - ${#BLACKHOLE[@]})) N_CLOSED=5
cat > "$WORK/peers.py" <<'PY'
import asyncio, logging, socket, ssl, sys
n_tls, n_silent, n_closed, work = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
logging.getLogger("asyncio").setLevel(logging.CRITICAL)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(f"{work}/peer.crt", f"{work}/peer.key")
ctx.verify_mode = ssl.CERT_REQUIRED            # like Teleport's peer port: mutual TLS
ctx.load_verify_locations(f"{work}/ca.crt")

async def drain(reader, writer):
    try:
        while await reader.read(4096):
            pass
    except Exception:
        pass
    writer.close()

async def main():
    addrs, servers = [], []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: None)
    for _ in range(n_tls):
        s = await asyncio.start_server(drain, "127.0.0.1", 0, ssl=ctx, ssl_handshake_timeout=10)
        servers.append(s); addrs.append("127.0.0.1:%d" % s.sockets[0].getsockname()[1])
    for _ in range(n_silent):   # accepts, never says a word
        s = await asyncio.start_server(drain, "127.0.0.1", 0)
        servers.append(s); addrs.append("127.0.0.1:%d" % s.sockets[0].getsockname()[1])
    for _ in range(n_closed):   # nothing listens
        t = socket.socket(); t.bind(("127.0.0.1", 0)); addrs.append("127.0.0.1:%d" % t.getsockname()[1]); t.close()
    with open(f"{work}/peers.txt", "w") as f:
        f.write("\n".join(addrs) + "\n")
    await asyncio.Event().wait()

asyncio.run(main())
PY
python3 "$WORK/peers.py" $N_TLS $N_SILENT $N_CLOSED "$WORK" &
SIM_PID=$!
for _ in $(seq 100); do [[ -s $WORK/peers.txt ]] && break; sleep 0.1; done
printf '%s\n' "${BLACKHOLE[@]}" >> "$WORK/peers.txt"
echo "bench-self.internal:3021" >> "$WORK/peers.txt"   # this host: excluded by self_addr
N_PEERS=$(($(grep -c . "$WORK/peers.txt") - 1))

# --- the agent ---------------------------------------------------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/incoming"
cat "$WORK/proxy.crt" > "$WORK/incoming/tls.crt"; cat "$WORK/proxy.key" > "$WORK/incoming/tls.key"
cat > "$WORK/agent.yaml" <<YAML
listen_addr: 127.0.0.1:$PORT
tls:
  source_dir: $WORK/incoming
  target_dir: $WORK/teleport-tls
  owner: $(id -un)
  group: $(id -gn)
  required_names: ["teleport.example.com", "*.teleport.example.com"]
  trust_bundle: $WORK/ca.crt
  min_validity: 24h
  verify:
    addr: ""
peers:
  self_addr: bench-self.internal:3021
  file: $WORK/peers.txt
  probe_interval: ${PROBE_INTERVAL_S}s
  probe_timeout: ${PROBE_TIMEOUT_S}s
YAML

metric() { curl -sf "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
now_ms() { date +%s%3N; }

t0=$(now_ms)
# shellcheck disable=SC2086
java $JAVA_OPTS -jar "$JAR" --config "$WORK/agent.yaml" 2> "$WORK/agent.log" &
AGENT_PID=$!
until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do
  kill -0 "$AGENT_PID" 2>/dev/null || { cat "$WORK/agent.log"; echo "bench: agent exited" >&2; exit 1; }
  sleep 0.02
done
startup_ms=$(($(now_ms) - t0))
alive() { kill -0 "$AGENT_PID" 2>/dev/null || { tail -20 "$WORK/agent.log"; echo "bench: agent exited" >&2; exit 1; }; }
until [[ -n $(metric teleport_node_agent_peer_last_probe_cycle_timestamp_seconds) && $(metric teleport_node_agent_peer_last_probe_cycle_timestamp_seconds) != 0.0 ]]; do
  alive; sleep 0.2
done
first_cycle_ms=$(($(now_ms) - t0))
[[ -f $WORK/teleport-tls/tls.crt ]] || { echo "bench: candidate pair was not installed" >&2; cat "$WORK/agent.log"; exit 1; }

# Steady state: sample RSS every second; the cycle metric once per cycle.
# The first cycle runs on a cold JVM (class loading, interpreter); it is reported apart from the steady state.
first_cycle=$(metric teleport_node_agent_peer_probe_cycle_duration_seconds)
max_rss_kib=0 max_cycle=0 cycles=0 all_cycles=
last_stamp=$(metric teleport_node_agent_peer_last_probe_cycle_timestamp_seconds)
cpu_start=$(metric process_cpu_seconds_total) wall_start=$SECONDS
end=$((SECONDS + BENCH_SECONDS))
while ((SECONDS < end)); do
  alive
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$AGENT_PID/status")
  ((rss > max_rss_kib)) && max_rss_kib=$rss
  stamp=$(metric teleport_node_agent_peer_last_probe_cycle_timestamp_seconds)
  if [[ $stamp != "$last_stamp" ]]; then
    last_stamp=$stamp cycles=$((cycles + 1))
    c=$(metric teleport_node_agent_peer_probe_cycle_duration_seconds)
    all_cycles+="$c "
    max_cycle=$(awk -v a="$c" -v b="$max_cycle" 'BEGIN {print (a > b) ? a : b}')
  fi
  sleep 1
done
if [[ -n ${BENCH_DETAIL:-} ]]; then  # where the RSS is: anonymous vs file-backed, biggest mappings
  grep -E '^(Rss|Pss|Shared|Private|Anonymous)' "/proc/$AGENT_PID/smaps_rollup" | sed 's/^/  /'
  awk '/^[0-9a-f]+-[0-9a-f]+ / {name=$6} /^Rss:/ {rss[name]+=$2} END {for (n in rss) printf "  %8d KiB %s\n", rss[n], n}' \
    "/proc/$AGENT_PID/smaps" | sort -rn | head -8
fi
if [[ -n ${BENCH_NMT:-} ]]; then  # with NODE_AGENT_JAVA_OPTS containing -XX:NativeMemoryTracking=summary
  jcmd "$AGENT_PID" VM.native_memory summary | grep -E '^(Total|-)' | sed 's/^/  /'
fi
jvm_mib() { curl -sf "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" -v l="$2" 'index($0, m "{" l) == 1 {printf "%.1f", $2 / 1048576}'; }
jvm_line=$(printf 'heap used %s / committed %s MiB, non-heap used %s MiB' "$(jvm_mib jvm_memory_bytes_used 'area="heap"')" \
  "$(jvm_mib jvm_memory_bytes_committed 'area="heap"')" "$(jvm_mib jvm_memory_bytes_used 'area="nonheap"')")
last_rss_kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$AGENT_PID/status")
cpu_share=$(awk -v a="$cpu_start" -v b="$(metric process_cpu_seconds_total)" -v w=$((SECONDS - wall_start)) 'BEGIN {printf "%.1f", 100 * (b - a) / w}')
threads=$(awk '/^Threads:/ {print $2}' "/proc/$AGENT_PID/status")
up=$(curl -sf "http://127.0.0.1:$PORT/v1/peers/status" | grep -o '"up":true' | wc -l)
outcomes=$(curl -sf "http://127.0.0.1:$PORT/v1/peers/status" | grep -o '"outcome":"[a-z_]*"' | sort | uniq -c | awk '{sub(/"outcome":/, "", $2); printf "%s=%s ", $2, $1}')

cycle_target=$(awk -v t=$PROBE_TIMEOUT_S 'BEGIN {print t * 1.1}')
printf '\nnode-agent bench: %d peers (%s), probe_timeout %ss, %ss steady state, %d cycles\n' \
  "$N_PEERS" "$outcomes" "$PROBE_TIMEOUT_S" "$BENCH_SECONDS" "$cycles"
printf 'JVM: %s\nenv: MALLOC_ARENA_MAX=%s MALLOC_MMAP_THRESHOLD_=%s MALLOC_TRIM_THRESHOLD_=%s (%s threads at the end)\n' \
  "$JAVA_OPTS" "$MALLOC_ARENA_MAX" "$MALLOC_MMAP_THRESHOLD_" "$MALLOC_TRIM_THRESHOLD_" "$threads"
printf 'cycle durations (s): %s\n' "$all_cycles"
printf 'at the end: %s; CPU over the steady state: %s%% of one core\n\n' "$jvm_line" "$cpu_share"
printf '%-34s %12s %12s %8s\n' figure measured target ratio
awk -v v="$max_rss_kib" -v t=$RSS_TARGET_MIB 'BEGIN {printf "%-34s %9.1f MiB %8d MiB %8.2f\n", "steady-state RSS (max)", v/1024, t, v/1024/t}'
awk -v v="$last_rss_kib" -v t=$RSS_TARGET_MIB 'BEGIN {printf "%-34s %9.1f MiB %8d MiB %8.2f\n", "steady-state RSS (end)", v/1024, t, v/1024/t}'
awk -v v="$max_cycle" -v t="$cycle_target" 'BEGIN {printf "%-34s %10.3f s %10.2f s %8.2f\n", "probe cycle duration (steady max)", v, t, v/t}'
awk -v v="$first_cycle" -v t="$cycle_target" 'BEGIN {printf "%-34s %10.3f s %10.2f s %8.2f\n", "probe cycle duration (first, cold)", v, t, v/t}'
printf '%-34s %9d ms %12s %8s\n' "startup to /healthz" "$startup_ms" "-" "-"
printf '%-34s %9d ms %12s %8s\n' "startup to first probe cycle done" "$first_cycle_ms" "-" "-"
printf '%-34s %12d %12d\n' "peers up (TLS, client cert asked)" "$up" "$N_TLS"
