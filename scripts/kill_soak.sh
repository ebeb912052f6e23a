#!/usr/bin/env bash
# Kill soak: kills `wm train tokenizer`, `wm train dynamics` and `wm train all` with SIGKILL at
# random moments (checkpoints are written every step, so many kills land inside a save), resumes
# each until it finishes, and checks what a user would: the resume worked, no file was left
# corrupt or half-written, how many steps were lost, and whether the resumed run logged exactly
# the losses of an uninterrupted one.
#
#   scripts/kill_soak.sh [--trials N] [--kills K] [--out DIR] [--parts "tokenizer dynamics all"]
#
# Prints one line per trial and a markdown table per part (RELIABILITY.md keeps the figures).
# wm train all also collects new episodes after a resume (the environments start afresh), so
# its runs are not expected to match the uninterrupted one; its other columns still apply.
set -euo pipefail
cd "$(dirname "$0")/.."

trials=20
kills=2
out=/tmp/wm_kill_soak
parts="tokenizer dynamics all"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --trials) trials="$2"; shift 2 ;;
    --kills) kills="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --parts) parts="$2"; shift 2 ;;
    *) echo "kill_soak.sh: unknown argument '$1' (--trials N, --kills K, --out DIR, --parts LIST)" >&2; exit 2 ;;
  esac
done
wm=build/wm
python=.venv/bin/python
[[ -x $wm ]] || { echo "kill_soak.sh: $wm is not built (make build)" >&2; exit 2; }
# Only a folder this script made (it leaves a marker) is emptied: --out never deletes a user's folder.
if [[ -e $out && ! -f $out/.kill_soak ]]; then
  echo "kill_soak.sh: $out exists and is not a kill soak's folder; pass a new --out" >&2
  exit 2
fi
rm -rf "$out"
mkdir -p "$out"
touch "$out/.kill_soak"

# A small world, shared by every trial: expert episodes at 32x32 and a tokenizer for dynamics.
common="run.out_dir=$out run.device=cpu run.threads=2 log.every_steps=1 checkpoint.every_steps=1 checkpoint.keep_last=3"
tokenizer_model="tokenizer.height=32 tokenizer.width=32 tokenizer.downsample=4 tokenizer.channel_mult=[1,2,2] tokenizer.base_channels=16 tokenizer.vocab_size=64 tokenizer.code_dim=8 tokenizer.restart_every=10"
$wm collect --config configs/demo.yaml --steps 600 --policy expert run.out_dir="$out" run.name=data env.height=32 env.width=32 env.max_steps=60 env.num_envs=2 2>/dev/null
$wm train tokenizer --config configs/demo.yaml $common run.name=tok data.path="$out/data/episodes" $tokenizer_model \
  tokenizer_train.steps=20 tokenizer_train.batch_size=8 2>/dev/null

command_for() {  # part run_name -> the command line (without --resume)
  case "$1" in
    tokenizer) echo "$wm train tokenizer --config configs/demo.yaml $common run.name=$2 data.path=$out/data/episodes $tokenizer_model tokenizer_train.steps=40 tokenizer_train.batch_size=8 tokenizer_train.eval_every=10 tokenizer_train.eval_frames=16" ;;
    dynamics) echo "$wm train dynamics --config configs/demo.yaml $common run.name=$2 data.path=$out/data/episodes dynamics_train.tokenizer=$out/tok dynamics.layers=2 dynamics.width=64 dynamics.heads=2 dynamics.context_steps=6 dynamics_train.steps=40 dynamics_train.batch_size=8 dynamics_train.warmup_steps=4 dynamics_train.eval_every=10 dynamics_train.eval_batches=2" ;;
    all) echo "$wm train all --config configs/demo.yaml $common run.name=$2 env.height=32 env.width=32 env.max_steps=60 env.num_envs=2 $tokenizer_model dynamics.layers=1 dynamics.width=32 dynamics.heads=2 dynamics.context_steps=4 policy.channels=8 policy.hidden=16 policy_train.horizon=4 policy_train.context=2 loop.epochs=2 loop.collect_steps=240 loop.tokenizer_steps=10 loop.dynamics_steps=10 loop.policy_steps=6 loop.eval_episodes=1 tokenizer_train.batch_size=8 dynamics_train.batch_size=8 policy_train.batch_size=8 tokenizer_train.eval_frames=16 dynamics_train.eval_batches=1" ;;
  esac
}
# wm train all resumes when run again; the parts' trainers with --resume.
resume_flag_for() { if [[ "$1" != "all" ]]; then echo --resume; fi; }
loss_key_for() { case "$1" in tokenizer) echo tokenizer/loss ;; dynamics) echo dynamics/loss ;; all) echo dynamics/loss ;; esac; }

# step -> loss of every logged training step; a step logged twice is reported.
losses() {
  "$python" - "$1" "$2" <<'EOF'
import json, sys
seen, twice = {}, 0
for line in open(sys.argv[1]):
    j = json.loads(line)
    if sys.argv[2] in j:
        twice += j["step"] in seen
        seen[j["step"]] = j[sys.argv[2]]
print(json.dumps({"losses": sorted(seen.items()), "twice": twice}))
EOF
}

for part in $parts; do
  key=$(loss_key_for "$part")
  start=$(date +%s.%N)
  $(command_for "$part" "ref-$part") > "$out/ref-$part.log" 2>&1
  whole_s=$(echo "$(date +%s.%N) - $start" | bc)
  reference=$(losses "$out/ref-$part/metrics.jsonl" "$key")
  resumed_ok=0; matched=0; corrupt_total=0; lost_total=0; twice_total=0; leftovers_total=0
  echo "## wm train $part: $trials trials, $kills kill(s) each, uninterrupted run ${whole_s%.*} s"
  for trial in $(seq 1 "$trials"); do
    name="$part-$trial"
    ok=1; lost=0
    for kill in $(seq 1 "$kills"); do
      resume=""; [[ $kill -gt 1 ]] && resume=$(resume_flag_for "$part")
      $(command_for "$part" "$name") $resume >> "$out/$name.log" 2>&1 &
      pid=$!
      # A random moment within the uninterrupted run's length (start-up included).
      sleep "$("$python" -c "import random; print(round(random.uniform(0.3, $whole_s * 0.9), 2))")"
      kill -9 "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      # Steps lost: per part, the last step logged before the kill against the newest
      # checkpoint the resume restarts from.
      lost=$((lost + $("$python" - "$out/$name" <<'EOF'
import json, os, re, sys
run = sys.argv[1]
metrics, folder = os.path.join(run, "metrics.jsonl"), os.path.join(run, "checkpoints")
def steps_logged(kind):
    # A line the kill cut short is not a logged step (the resume drops it).
    steps = []
    for line in open(metrics) if os.path.exists(metrics) else []:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if f"{kind}/loss" in entry:
            steps.append(entry["step"])
    return steps
lost = 0
for kind in ("tokenizer", "dynamics", "policy"):
    logged = steps_logged(kind)
    saved = [int(m.group(1)) for f in os.listdir(folder) if (m := re.fullmatch(kind + r"_(\d+)\.ckpt", f))] if os.path.isdir(folder) else []
    lost += max(0, max(logged, default=0) - max(saved, default=0))
print(lost)
EOF
)))
    done
    if ! $(command_for "$part" "$name") $(resume_flag_for "$part") >> "$out/$name.log" 2>&1; then ok=0; fi
    corrupt=$(find "$out/$name" -name '*.corrupt' | wc -l)
    leftovers=$(find "$out/$name" -name '*.tmp*' | wc -l)
    got=$(losses "$out/$name/metrics.jsonl" "$key")
    twice=$(echo "$got" | "$python" -c "import json,sys; print(json.load(sys.stdin)['twice'])")
    same=$("$python" -c "import json,sys; a=json.loads(sys.argv[1])['losses']; b=json.loads(sys.argv[2])['losses']; print(int(a == b))" "$reference" "$got")
    echo "trial $trial: resumed $ok, corrupt files $corrupt, temporaries left $leftovers, steps lost $lost, steps logged twice $twice, matched the uninterrupted run $same"
    resumed_ok=$((resumed_ok + ok)); matched=$((matched + same)); corrupt_total=$((corrupt_total + corrupt))
    lost_total=$((lost_total + lost)); twice_total=$((twice_total + twice)); leftovers_total=$((leftovers_total + leftovers))
  done
  echo
  echo "| command | trials | resumed to the end | corrupt files | temporaries left | steps lost (all kills) | steps logged twice | matched uninterrupted |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  echo "| wm train $part | $trials | $resumed_ok | $corrupt_total | $leftovers_total | $lost_total | $twice_total | $matched |"
  echo
done
