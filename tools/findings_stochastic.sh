#!/bin/sh
# The README's findings on the stochastic samplers with the exact score (issue 19.5):
# one sweep per sampler of the empirical model of the first NTRAIN Fashion-MNIST
# training images (Debian's dataset-fashion-mnist; copied with their labels as IDX
# files), then tables of the memorised fraction, the class histogram's total variation
# distance from the training set's class frequencies, the PCA-Frechet distances, the
# class counts at each sampler's largest budget, and the floors of an exact sampler.
#
#   tools/findings_stochastic.sh [BIN [OUT]]
#   env: NTRAIN (0: all 60,000), N samples, NFE budgets of the stochastic samplers
#        (Heun ODE: 10,20,40), BACKEND, SWEEPS (the sweeps to run, default all;
#        instances with disjoint lists share the work)
#
# A sweep whose sweep.csv exists is not run again (delete OUT to start afresh); the
# tables cover every sweep found in OUT.
set -eu
BIN=${1:-build/diffsamp}
OUT=${2:-analysis/stochastic}
NTRAIN=${NTRAIN:-10000}
N=${N:-256}
NFE=${NFE:-10,20}
BACKEND=${BACKEND:-cpu}
SWEEPS=${SWEEPS:-heun,euler_ancestral,dpmpp2m_sde,dpmpp_sde,dpmpp3m_sde,euler_churn,heun_churn}
FM=/usr/share/datasets/fashion-mnist
[ -f "$FM/train-labels-idx1-ubyte.gz" ] ||
    { echo "findings_stochastic: $FM lacks the labels (apt-get install dataset-fashion-mnist)"; exit 2; }
DATA=$FM/train-images-idx3-ubyte.gz
mkdir -p "$OUT"
if [ "$NTRAIN" -gt 0 ]; then # the subset as IDX images and labels, so the labels come along
    DATA=$OUT/train-images-idx3-ubyte
    [ -f "$DATA" ] || /usr/bin/python3 - "$FM" "$NTRAIN" "$OUT" <<'EOF'
import gzip, struct, sys
fm, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
img = gzip.open(fm + "/train-images-idx3-ubyte.gz").read()[16:16 + n * 784]
lab = gzip.open(fm + "/train-labels-idx1-ubyte.gz").read()[8:8 + n]
open(out + "/train-labels-idx1-ubyte", "wb").write(struct.pack(">II", 0x801, n) + lab)
open(out + "/train-images-idx3-ubyte", "wb").write(struct.pack(">IIII", 0x803, n, 28, 28) + img)
EOF
fi
COMMON="--data $DATA --heldout $FM/t10k-images-idx3-ubyte.gz
 --model empirical --schedules edm --n $N --backend $BACKEND"

sweep() { # NAME OPTIONS...: one sweep (its own folder, so each finished one is kept)
    name=$1; shift
    case ",$SWEEPS," in *",$name,"*) ;; *) return 0 ;; esac
    [ -f "$OUT/$name/sweep.csv" ] && return 0
    echo "findings_stochastic: sweep $name: $*"
    # shellcheck disable=SC2086
    "$BIN" sweep $COMMON "$@" --out "$OUT/$name"
}
# Heun ODE, judged by distribution like the others (its ground truth, which the sweep
# runs for an ODE solver, only at rtol 1e-3: its per-sample error is not used here);
# certified landing makes its runs cheap, so it has a 40-NFE budget too.
sweep heun --solvers heun --rtol 1e-3 --nfe 10,20,40
# The ancestral and SDE samplers at k-diffusion's defaults (eta 1, r 0.5, s_noise 1).
for s in euler_ancestral dpmpp2m_sde dpmpp_sde dpmpp3m_sde; do sweep $s --solvers $s --nfe "$NFE"; done
# EDM's Algorithm 2 with EDM's ImageNet churn settings.
for s in euler heun; do
    sweep ${s}_churn --solvers $s --s-churn 40 --s-tmin 0.05 --s-tmax 50 --s-noise 1.003 --nfe "$NFE"
done

# The floor of the PCA-Frechet distances: N training rows (analyze fid's baseline, the
# first N) against the training set and the test split.
if [ ! -f "$OUT/floor_test/fid.csv" ]; then
    /usr/bin/python3 - "$DATA" "$N" "$OUT/train_rows.npy" <<'EOF'
import gzip, sys
import numpy as np
path, n = sys.argv[1], int(sys.argv[2])
raw = (gzip.open if path.endswith(".gz") else open)(path, "rb").read()
np.save(sys.argv[3], np.frombuffer(raw[16:16 + n * 784], np.uint8).reshape(n, 784) / 127.5 - 1)
EOF
    for h in train test; do
        held=$DATA
        [ $h = test ] && held=$FM/t10k-images-idx3-ubyte.gz
        "$BIN" analyze fid --samples "$OUT/train_rows.npy" --data "$DATA" --heldout "$held" \
            --out "$OUT/floor_$h" >/dev/null
    done
fi

/usr/bin/python3 - "$OUT" "$N" <<'EOF'
import csv, math, os, sys
out, n = sys.argv[1], int(sys.argv[2])
rows, classes = [], []
for name in ("heun", "euler_ancestral", "dpmpp2m_sde", "dpmpp_sde", "dpmpp3m_sde", "euler_churn",
             "heun_churn"):
    if not os.path.exists(f"{out}/{name}/sweep.csv"):
        print(f"(sweep {name} not run)")
        continue
    rows += [dict(r, sweep=name) for r in csv.DictReader(open(f"{out}/{name}/sweep.csv"))]
    classes += [dict(r, sweep=name) for r in csv.DictReader(open(f"{out}/{name}/sweep_classes.csv"))]

def label(r):
    if r["solver"] == "adaptive":
        return f"adaptive ODE ({r['schedule']}, the ground truth)"
    kind = " + churn" if r["noise"].startswith("s_churn") else (" ODE" if r["noise"] == "-" else "")
    return r["solver"] + kind

if not rows:
    sys.exit("findings_stochastic: no sweep finished yet")
freq = [float(r["train_fraction"]) for r in classes if r["solver"] == classes[0]["solver"]
        and r["nfe"] == classes[0]["nfe"] and r["sweep"] == classes[0]["sweep"]]

# E[TV] of n training images drawn uniformly: 0.5 sum_c E|X_c / n - p_c|, X_c ~ Bin(n, p_c).
def mean_abs_dev(p):
    return sum(math.exp(math.lgamma(n + 1) - math.lgamma(x + 1) - math.lgamma(n - x + 1)
                        + x * math.log(p) + (n - x) * math.log1p(-p)) * abs(x / n - p)
               for x in range(n + 1))
print(f"expected class TV of {n} uniform draws from the training set: "
      f"{0.5 * sum(mean_abs_dev(p) for p in freq):.4f}")
# Its 95% quantile, by Monte Carlo over 20,000 such draws (numpy, seed 0).
import numpy as np
draws = np.random.default_rng(0).multinomial(n, freq, size=20000) / n
print(f"95% quantile of that TV: {np.quantile(0.5 * np.abs(draws - freq).sum(1), 0.95):.4f}")
floor = {h: float(list(csv.DictReader(open(f"{out}/floor_{h}/fid.csv")))[1]["frechet"])
         for h in ("train", "test")}
print(f"PCA-Frechet distance of {n} training rows: {floor['train']:.3g} to the training set, "
      f"{floor['test']:.3g} to the test split")

print("\n| sampler | steps | NFE | memorised | class TV | PCA-Frechet to train | to test |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {label(r)} | {r['steps']} | {r['nfe']} | {float(r['memorized']):.3f} | {float(r['class_tv']):.3f} | "
          f"{float(r['frechet_train']):.3g} | {float(r['frechet']):.3g} |")

top = {}  # each sweep's largest budget
for r in rows:
    if r["solver"] != "adaptive":
        top[r["sweep"]] = max(top.get(r["sweep"], 0), int(r["nfe"]))
print(f"\nclass counts of the {n} samples' nearest training images at each sampler's largest "
      f"budget (training set: {n} x its class frequencies)")
k = len(freq)
print("| sampler | NFE | " + " | ".join(str(c) for c in range(k)) + " |")
print("|---|---|" + "---|" * k)
print("| training set (expected) | | " + " | ".join(f"{n * p:.1f}" for p in freq) + " |")
for r in rows:
    if r["solver"] != "adaptive" and int(r["nfe"]) != top[r["sweep"]]:
        continue
    c = [x["count"] for x in classes if x["sweep"] == r["sweep"] and x["solver"] == r["solver"]
         and x["nfe"] == r["nfe"] and x["noise"] == r["noise"]]
    print(f"| {label(r)} | {r['nfe']} | " + " | ".join(c) + " |")
EOF
