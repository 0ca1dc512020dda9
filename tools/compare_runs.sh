#!/bin/sh
# A fixed set of runs on small data made here (no download): every solver once, every
# model kind, each schedule kind, teleportation (fraction and sigma), a trajectory, a
# resumed run, each analysis, a sweep and a denoise. Writes MANIFEST: one line per output
# file, "sha256  name", and one per command's stdout + stderr. Two builds whose MANIFESTs
# are byte-identical produced byte-identical outputs.
#
# Excluded explicitly, because they change from run to run or build to build and say
# nothing about the results (everything else is hashed as written):
#   run.json: "git_revision", "created_utc", "seconds" (timings), "samples_per_second"
#             are removed before hashing (the rest of run.json is hashed);
#   stdout/stderr: durations ("1.23 s", "4.5 samples/s", "NFE/s") become "T";
#   sweep.csv and the table sweep prints: the "seconds" column (the last) becomes "T".
# Runs happen in WORKDIR (always the same path, so that the absolute paths recorded in
# run.json agree between builds).
#
# Usage: tools/compare_runs.sh DIFFSAMP_BINARY MANIFEST [WORKDIR]
set -eu
BIN=$(realpath "$1")
MANIFEST=$(realpath -m "$2")
W=${3:-/tmp/diffsamp-compare-runs}
rm -rf "$W"
mkdir -p "$W"
cd "$W"
: >"$MANIFEST"

# 48 8-bit images of 4 x 4 pixels from a fixed linear congruential sequence, as .npy;
# a second set of 32 as held-out data.
python3 - <<'PY'
import struct
def npy(path, n, seed):
    x, data = seed, bytearray()
    for _ in range(n * 16):
        x = (x * 1103515245 + 12345) % 2**31
        data.append((x >> 16) % 256)
    hdr = "{'descr': '|u1', 'fortran_order': False, 'shape': (%d, 4, 4), }" % n
    hdr += " " * ((64 - (10 + len(hdr) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode() + bytes(data))
npy("data.npy", 48, 1)
npy("heldout.npy", 32, 2)
PY

untimed() { sed -E 's/[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)? ?(s|ms|samples\/s|NFE\/s)\b/T/g'; }
# The sweep's table: its last column is the time of each configuration.
untimed_sweep() { untimed | sed -E 's/ [0-9]+\.[0-9]+$/ T/'; }

# Runs one command (name, then the arguments); its output, without durations, is hashed.
run() {
    name=$1; shift
    "$BIN" "$@" >"$name.log" 2>&1 || echo "exit $?" >>"$name.log"
    filter=untimed
    [ "$name" = sweep ] && filter=untimed_sweep
    printf '%s  %s.log\n' "$($filter <"$name.log" | sha256sum | cut -d' ' -f1)" "$name" >>"$MANIFEST"
}

C="--backend cpu --quiet"
run prep_emp prepare --data data.npy --model empirical --out m_emp
run prep_gauss prepare --data data.npy --model gaussian --out m_gauss
run prep_gmm prepare --data data.npy --model gmm --k 3 --out m_gmm
for kind in pca_locality ls els pspc nearest smoothed; do # the local models and the baseline
    run "prep_$kind" prepare --data data.npy --model $kind --smoothing 0.05 --smoothing-samples 2 \
        --out "m_$kind"
    run "s_$kind" sample --model-dir "m_$kind" --steps 6 --n 6 $C --out "s_$kind"
done
for s in euler heun dpm2 dpmpp2m dpmpp3m unipc ipndm ipndm_v deis lms adaptive; do
    run "s_$s" sample --model-dir m_emp --sampler $s --steps 6 --n 6 --batch 4 $C --out "s_$s"
done
run s_gauss sample --model-dir m_gauss --steps 6 --n 6 $C --out s_gauss
run s_gmm sample --model-dir m_gmm --steps 6 --n 6 $C --out s_gmm
run s_ref sample --model-dir m_gmm --steps 6 --n 6 --backend ref --quiet --out s_ref
run prep_var prepare --data data.npy --model variance --variance 0.5 --out m_var
run s_var sample --model-dir m_var --steps 6 --n 6 $C --out s_var
run s_logsnr sample --model-dir m_emp --schedule logsnr --steps 6 --n 6 $C --out s_logsnr
run s_vp sample --model-dir m_emp --schedule vp --steps 6 --n 6 $C --out s_vp
printf '80\n10\n1\n0.1\n0.002\n0\n' >sigmas.txt
run s_file sample --model-dir m_emp --sigmas sigmas.txt --n 6 $C --out s_file
run s_gits sample --model-dir m_emp --schedule gits --steps 5 --gits-teacher-steps 12 \
    --gits-warmup 8 --n 6 $C --out s_gits
run s_tel_frac sample --model-dir m_gmm --teleport-model m_gauss --teleport-fraction 0.3 \
    --steps 8 --n 6 $C --out s_tel_frac
run s_tel_sigma sample --model-dir m_emp --teleport-sigma 5 --steps 8 --n 6 $C --out s_tel_sigma
run s_traj sample --model-dir m_emp --steps 6 --n 6 $C --trajectory traj --out s_traj
# Resume: a run of 3 batches stopped after its first (the test hook the suite uses), then
# --resume finishes it.
(
    export DIFFSAMP_TEST_DIE_AFTER_BATCH=0
    run s_resume1 sample --model-dir m_emp --steps 6 --n 6 --batch 2 $C --out s_resume
)
run s_resume2 sample --model-dir m_emp --steps 6 --n 6 --batch 2 $C --out s_resume --resume
run den denoise --model-dir m_emp --sigma 0.5 --x s_heun/samples.npy --backend cpu --out den.npy
run a_traj analyze trajectory --trajectory traj --out a_traj
run a_mem analyze memorization --samples s_heun/samples.npy --data data.npy --out a_mem
run a_fid analyze fid --samples s_heun/samples.npy --data data.npy --heldout heldout.npy \
    --pca-k 4 --out a_fid
run a_err analyze error --samples s_euler/samples.npy --reference s_adaptive/samples.npy \
    --out a_err
run a_den analyze denoisers --data data.npy --heldout heldout.npy --k 3 --n 8 --levels 4 \
    --backend cpu --out a_den
run a_emer analyze emergence --trajectory traj --data data.npy --pca-k 4 --out a_emer
run a_pert analyze perturbation --model-dir m_emp --steps 6 --n 6 --backend cpu --out a_pert
run a_noether analyze noether --toy ring --model gaussian --from 2,0 --to "0,1;-1,0.5" \
    --steps 8 --out a_noether
run prep_lf prepare --data data.npy --model linear_features --out m_lf # d = 16: refused
run a_noether_lf analyze noether --toy ring --toy-n 4 --model linear_features --from 2,0 \
    --to "0,1" --steps 8 --out a_noether_lf
run sweep sweep --data data.npy --heldout heldout.npy --model gmm --k 3 --solvers euler,heun \
    --schedules edm --nfe 6 --teleport 0,0.3 --n 6 --pca-k 4 --backend cpu --out sweep

# Every file written, in name order; run.json and sweep.csv without their run-time fields.
find . -type f ! -name '*.log' ! -name data.npy ! -name heldout.npy ! -name sigmas.txt \
    | LC_ALL=C sort | while read -r f; do
    case "$f" in
    */run.json)
        python3 -c 'import json,sys
j = json.load(open(sys.argv[1]))
for k in ("git_revision", "created_utc", "seconds", "samples_per_second"): j.pop(k, None)
print(json.dumps(j, sort_keys=True))' "$f" | sha256sum ;;
    */sweep.csv)
        python3 -c 'import csv,sys
rows = list(csv.reader(open(sys.argv[1])))
col = rows[0].index("seconds") if "seconds" in rows[0] else -1
for r in rows:
    if col >= 0 and r is not rows[0]: r[col] = "T"
    print(",".join(r))' "$f" | sha256sum ;;
    *) sha256sum <"$f" ;;
    esac | { read -r h _; printf '%s  %s\n' "$h" "$f"; } >>"$MANIFEST"
done
echo "compare_runs: $(wc -l <"$MANIFEST") hashes -> $MANIFEST"
