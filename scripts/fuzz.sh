#!/usr/bin/env bash
# Fuzzes wm's parsers with libFuzzer (tests/fuzz/): builds the harnesses with clang, ASan and
# UBSan into build-fuzz/, seeds each from real files (configs/, and a tiny collected run with
# its checkpoint and token dump), runs each for a time or a number of inputs, and prints one
# line per harness. Exits non-zero when a harness finds a crash; the input that caused it is
# kept in build-fuzz/crashes/<harness>/ (each becomes a regression test).
#
#   scripts/fuzz.sh [--seconds S | --runs N] [harness ...]     (make fuzz FUZZ_SECONDS=S)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
runs=""
harnesses=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    -*) echo "fuzz.sh: unknown option '$1' (--seconds S, --runs N)" >&2; exit 2 ;;
    *) harnesses+=("$1"); shift ;;
  esac
done
[[ ${#harnesses[@]} -gt 0 ]] || harnesses=(config npy actions_csv token_dump checkpoint)
[[ -x build/wm ]] || { echo "fuzz.sh: build/wm is not built (make build first)" >&2; exit 2; }

cmake -S tests/fuzz -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DWM_BUILD="$PWD/build" >/dev/null
cmake --build build-fuzz -j "$(nproc)"

# Scratch folders of harnesses no longer running (a crash skips their own clean-up).
for scratch in /dev/shm/wm_fuzz_*; do
  if [[ -d $scratch ]] && ! kill -0 "${scratch##*_}" 2>/dev/null; then rm -rf "$scratch"; fi
done

# Seeds: real files of each kind.
seeds=build-fuzz/seeds
if [[ ! -f $seeds/.made ]]; then
  rm -rf "$seeds"
  mkdir -p "$seeds"/{config,npy,actions_csv,token_dump,checkpoint}
  run=$seeds/run
  build/wm collect --config configs/demo.yaml --steps 40 --policy expert run.out_dir="$seeds" run.name=run \
    env.height=32 env.width=32 env.max_steps=20 env.num_envs=1 2>/dev/null
  build/wm train tokenizer --config configs/demo.yaml run.out_dir="$seeds" run.name=run tokenizer.height=32 tokenizer.width=32 \
    tokenizer.downsample=4 'tokenizer.channel_mult=[1,2,2]' tokenizer.base_channels=8 tokenizer.vocab_size=16 tokenizer.code_dim=4 \
    tokenizer_train.steps=1 tokenizer_train.batch_size=2 tokenizer_train.eval_frames=2 2>/dev/null
  build/wm tokens dump --tokenizer "$run" --out "$run/tokens" "$run/episodes" 2>/dev/null
  cp configs/*.yaml "$seeds/config/"
  cp "$run/episodes/ep_000000/actions.npy" "$run/episodes/ep_000000/rewards.npy" "$run/episodes/ep_000000/dones.npy" "$seeds/npy/"
  find "$run/tokens" -name tokens.npy | head -1 | xargs -I{} cp {} "$seeds/npy/tokens.npy"
  printf 'frame,time_s,steering,throttle,brake,speed\n0,0.000,0,0,0,7.8\n1,0.100,0.1,0.5,0,8.0\n2,0.200,-0.2,1,0,8.5\n' > "$seeds/actions_csv/frames.csv"
  printf 'time_s,steering,throttle,brake,reward,done\n0.0,0,0,0,0,0\n0.05,0.3,0.2,0,1,0\n2.9,0,0,1,0,1\n' > "$seeds/actions_csv/times.csv"
  { printf '\x00'; cat "$run/tokens/manifest.json"; } > "$seeds/token_dump/manifest"
  meta=$(find "$run/tokens" -name meta.json | head -1)
  { printf '\x01'; cat "$meta"; } > "$seeds/token_dump/meta"
  checkpoint=$(ls "$run"/checkpoints/tokenizer_*.ckpt | head -1)
  { printf '\x00'; cat "$checkpoint"; } > "$seeds/checkpoint/whole"
  size=$(stat -c %s "$checkpoint")
  { printf '\x01'; tail -c +17 "$checkpoint" | head -c $((size - 20)); } > "$seeds/checkpoint/payload"
  rm -rf "$run"
  touch "$seeds/.made"
fi

failed=0
for harness in "${harnesses[@]}"; do
  corpus=build-fuzz/corpus/$harness
  crashes=build-fuzz/crashes/$harness
  mkdir -p "$corpus" "$crashes"
  limit=(-max_total_time="$seconds")
  [[ -n $runs ]] && limit=(-runs="$runs")
  log=build-fuzz/$harness.log
  status=0
  ASAN_OPTIONS=detect_leaks=0 build-fuzz/fuzz_$harness "${limit[@]}" -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$crashes/" "$corpus" "$seeds/$harness" >"$log" 2>&1 || status=$?
  executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  found=$(find "$crashes" -type f | wc -l)
  echo "fuzz_$harness: ${executed:-0} inputs in ${took:-?} s, exit $status, crash inputs kept: $found ($crashes)"
  if [[ $status -ne 0 ]]; then
    failed=1
    grep -m3 -E "ERROR|escaped|SUMMARY" "$log" | sed 's/^/    /' || true
  fi
done
exit $failed
