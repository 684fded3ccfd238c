#!/usr/bin/env bash
# End-to-end demo of the `nsq stat` dashboard in the compiled executable:
# two brokers + HTTP publishing + a TCP consumer, the dashboard in a detached tmux pane driven
# with send-keys (drill down, pause), one broker hung (kill -STOP), resumed, then killed; finally
# the same executable as nsq_stat (symlink) on a terminal; prints each captured screen.
# NSQ_BIN=/path/to/nsq uses that executable instead of building one with scripts/build-binaries.ts.
# Usage: scripts/tmux-stat-demo.sh [columns] [rows]      (needs tmux, curl; loopback only)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUN="$ROOT/node_modules/.bin/bun"
COLS="${1:-100}"
ROWS="${2:-30}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/nsq-stat-demo.XXXXXX")"
SESSION="nsq-stat-demo-$$"
PIDS=()

cleanup() {
  tmux kill-session -t "$SESSION" 2>/dev/null || true
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v tmux >/dev/null || { echo "tmux is required (apt-get install tmux)" >&2; exit 1; }

free_port() { "$BUN" -e 'const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } }); console.log(s.port); s.stop(true);'; }

# 1. the compiled executable, built the way releases are (scripts/build-binaries.ts), or NSQ_BIN
if [ -n "${NSQ_BIN:-}" ]; then
  NSQ="$NSQ_BIN"
else
  (cd "$ROOT" && "$BUN" scripts/build-binaries.ts --dist "$WORK" >/dev/null)
  NSQ="$WORK/nsq"
fi
[ -x "$NSQ" ] || { echo "no executable at $NSQ" >&2; exit 1; }

# 2. two brokers (the executable's own `serve`)
declare -a HTTP TCP
for i in 0 1; do
  HTTP[$i]="$(free_port)"
  TCP[$i]="$(free_port)"
  mkdir -p "$WORK/data$i"
  "$NSQ" serve --tcp-address="127.0.0.1:${TCP[$i]}" --http-address="127.0.0.1:${HTTP[$i]}" \
    --data-path="$WORK/data$i" --log-level=error >"$WORK/nsqd$i.log" 2>&1 &
  PIDS+=($!)
done
for i in 0 1; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:${HTTP[$i]}/ping" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:${HTTP[$i]}/ping" >/dev/null || { echo "broker $i did not start:" >&2; cat "$WORK/nsqd$i.log" >&2; exit 1; }
done
BROKER1="${PIDS[1]}"

# 3. traffic: publishers on both brokers, one raw V2 consumer per broker on orders/archive
for i in 0 1; do
  ( while true; do curl -s -o /dev/null -d $'a\nb\nc\nd\ne' "http://127.0.0.1:${HTTP[$i]}/mpub?topic=orders"; sleep 0.05; done ) &
  PIDS+=($!)
  curl -s -o /dev/null -X POST "http://127.0.0.1:${HTTP[$i]}/topic/create?topic=clicks" || true
  "$BUN" -e '
    const port = Number(process.argv[process.argv.length - 1]);
    let buf = Buffer.alloc(0);
    const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data(sock, chunk) {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 8 && buf.length >= 4 + buf.readInt32BE(0)) {
        const size = buf.readInt32BE(0), type = buf.readInt32BE(4), body = buf.subarray(8, 4 + size);
        if (type === 0 && body.toString() === "_heartbeat_") sock.write("NOP\n");
        if (type === 2) sock.write("FIN " + body.subarray(10, 26).toString() + "\n");
        buf = buf.subarray(4 + size);
      }
    } } });
    s.write("  V2SUB orders archive\nRDY 50\n");
  ' -- "${TCP[$i]}" &
  PIDS+=($!)
done

# 4. the dashboard in tmux
tmux new-session -d -s "$SESSION" -x "$COLS" -y "$ROWS" \
  "$NSQ stat --nsqd-http-address=127.0.0.1:${HTTP[0]} --nsqd-http-address=127.0.0.1:${HTTP[1]} --interval=1s; sleep 30"
capture() {
  echo "===== $1 ($COLS x $ROWS) ====="
  tmux capture-pane -p -t "$SESSION"
}
sleep 4
capture "topics"
tmux send-keys -t "$SESSION" j   # orders (topics are sorted by name: clicks, orders)
sleep 0.3
tmux send-keys -t "$SESSION" Enter
sleep 2
capture "channels of orders"
tmux send-keys -t "$SESSION" p
sleep 2.5
capture "after p (archive paused on both nodes)"
echo "server says: $(curl -s "http://127.0.0.1:${HTTP[0]}/stats?format=json&topic=orders&channel=archive&include_clients=false" | tr -d '\n' | grep -o '"paused":[a-z]*' | head -1)"
kill -STOP "$BROKER1"   # the second broker hangs: connections accepted, nothing answered
sleep 2.5
capture "second broker hung (kill -STOP): DOWN within ~2 intervals, the first keeps updating"
kill -CONT "$BROKER1"
sleep 2.5
capture "second broker resumed (kill -CONT)"
kill "$BROKER1"
sleep 3
capture "second broker killed"
tmux send-keys -t "$SESSION" q
sleep 0.5

# 5. the same executable under its multi-call name nsq_stat, still on a terminal: nsq_stat's rows
ln -s "$NSQ" "$WORK/nsq_stat"
tmux respawn-pane -k -t "$SESSION" \
  "$WORK/nsq_stat --nsqd-http-address=127.0.0.1:${HTTP[0]} --topic=orders --channel=archive --interval=500ms; sleep 30"
sleep 3
capture "nsq_stat (symlink) on a terminal: rows, not the dashboard"
