#!/bin/bash
# The GPU figures still missing from bench/RESULTS.md, as one prepared script for a short device loan.
#
#   bash bench/gpu_check.sh [OUT_DIR]          # default $OUT (the device tool's output folder) or bench_gpu/
#   QUICK=1 bash bench/gpu_check.sh /tmp/x     # tiny sizes: checks the script itself on a CPU in a minute or two
#
# Each step has its own time limit (so one slow step cannot eat the loan) and writes its table to OUT_DIR/<step>.txt;
# OUT_DIR/log.txt says which steps finished. Order = priority:
#   1. issue 14: context vs full / none at E = 64, T = 128 (the issue's targets), with L = 20 and 5
#   2. issue 14: where the time goes (context_profile)
#   3. issue 13: train throughput at E = 1024, 4096 on smax_6h_vs_8z
#   4. issue 13: a sweep of 1..64 runs in one program
#   5. issue 22: GRU vs feed-forward throughput at E = 64 (the 0.6 target)
#   6. issue 23: the cost of --deterministic (its XLA options) at E = 64
# GPU users first need: pip install "jax[cuda12]==0.10.2"
set -u
export PYTHONUNBUFFERED=1  # a step cut at its limit still leaves the rows it printed
# Limits sum to 590 s: the whole script fits one 600 s device call.
OUT_DIR=${1:-${OUT:-bench_gpu}}
mkdir -p "$OUT_DIR"
cd "$(dirname "$0")/.."
log() { echo "$(date -u +%T) $*" | tee -a "$OUT_DIR/log.txt"; }
step() {  # step NAME LIMIT_S COMMAND...
  local name=$1 limit=$2; shift 2
  log "start $name (limit ${limit}s): $*"
  timeout "$limit" "$@" > "$OUT_DIR/$name.txt" 2>&1
  log "end $name rc=$?"
}
python -c "import jax; print(jax.devices())" > "$OUT_DIR/devices.txt" 2>&1
nvidia-smi > "$OUT_DIR/nvidia-smi.txt" 2>&1 || true
if [ "${QUICK:-0}" = 1 ]; then
  step context_throughput 300 python bench/train_throughput.py --env cg_2 --dags none full context \
    --sinkhorn-iters 20 5 --num-envs 8 --num-steps 8 --updates 1 --rounds 1
  step context_profile 300 python bench/context_profile.py --env cg_2 --batch 64 --repeats 1 --sinkhorn-iters 20 5
  step smax_large_e 300 python bench/train_throughput.py --env smax_3m --dags none context --num-envs 8 \
    --num-steps 8 --updates 1 --rounds 1
  step sweep 300 python bench/sweep_scaling.py --env cg_2 --runs 1 2 --devices 1 --updates 1 --rounds 1
  step gru 300 python bench/train_throughput.py --env cg_2 --dags none --recurrent none gru --num-envs 8 \
    --num-steps 8 --updates 1 --rounds 1
  step deterministic 300 python bench/train_throughput.py --env cg_2 --dags none --deterministic --num-envs 8 \
    --num-steps 8 --updates 1 --rounds 1
else
  step context_throughput 160 python bench/train_throughput.py --env aloha_10 cg_5 smax_6h_vs_8z \
    --dags none full context --sinkhorn-iters 20 5 --rounds 3
  step context_profile 70 python bench/context_profile.py --env aloha_10 cg_5 --sinkhorn-iters 20 5
  step smax_large_e 100 python bench/train_throughput.py --env smax_6h_vs_8z --dags none context \
    --num-envs 1024 4096 --rounds 2
  step sweep 80 python bench/sweep_scaling.py --env cg_2 --runs 1 8 64 --devices 1 --rounds 2
  step gru 90 python bench/train_throughput.py --env smax_6h_vs_8z --dags none context --recurrent none gru --rounds 3
  step deterministic 90 python bench/train_throughput.py --env smax_6h_vs_8z --dags none context --deterministic \
    --rounds 3
fi
log done
