#!/bin/sh
# The README's findings on the stochastic samplers with the exact score (issue 19.5):
# two sweeps of the empirical model of Fashion-MNIST (Debian's dataset-fashion-mnist,
# labels beside the images), then tables of the memorised fraction, the class histogram's
# total variation distance from the training set's class frequencies, the PCA-Frechet
# distances, and the class counts at the largest budget.
#
#   tools/findings_stochastic.sh [BIN [OUT]]    (env: N samples, NFE budgets, BACKEND)
#
# A sweep whose sweep.csv exists is not run again (delete OUT to start afresh).
set -eu
BIN=${1:-build/diffsamp}
OUT=${2:-analysis/stochastic}
N=${N:-256}
NFE=${NFE:-10,20,40}
BACKEND=${BACKEND:-cpu}
FM=/usr/share/datasets/fashion-mnist
[ -f "$FM/train-labels-idx1-ubyte.gz" ] ||
    { echo "findings_stochastic: $FM lacks the labels (apt-get install dataset-fashion-mnist)"; exit 2; }
COMMON="--data $FM/train-images-idx3-ubyte.gz --heldout $FM/t10k-images-idx3-ubyte.gz
 --model empirical --schedules edm --nfe $NFE --n $N --backend $BACKEND"

sweep() { # NAME OPTIONS...
    name=$1; shift
    [ -f "$OUT/$name/sweep.csv" ] && return 0
    echo "findings_stochastic: sweep $name: $*"
    # shellcheck disable=SC2086
    "$BIN" sweep $COMMON "$@" --out "$OUT/$name"
}
# Heun ODE (judged against the adaptive ground truth and by distribution) beside the
# ancestral and SDE samplers at k-diffusion's defaults (eta 1, r 0.5, s_noise 1).
sweep sde --solvers heun,euler_ancestral,dpmpp_sde,dpmpp2m_sde,dpmpp3m_sde
# EDM's Algorithm 2 with EDM's ImageNet churn settings.
sweep churn --solvers euler,heun --s-churn 40 --s-tmin 0.05 --s-tmax 50 --s-noise 1.003

/usr/bin/python3 - "$OUT" "$N" <<'EOF'
import csv, math, sys
out, n = sys.argv[1], int(sys.argv[2])
rows, classes = [], []
for name in ("sde", "churn"):
    rows += [dict(r, sweep=name) for r in csv.DictReader(open(f"{out}/{name}/sweep.csv"))]
    classes += [dict(r, sweep=name) for r in csv.DictReader(open(f"{out}/{name}/sweep_classes.csv"))]

def label(r):
    if r["solver"] == "adaptive":
        return "adaptive ODE (truth)"
    kind = " + churn" if r["noise"].startswith("s_churn") else (" ODE" if r["noise"] == "-" else "")
    return r["solver"] + kind

freq = [float(r["train_fraction"]) for r in classes if r["solver"] == classes[0]["solver"]
        and r["nfe"] == classes[0]["nfe"] and r["sweep"] == classes[0]["sweep"]]

# E[TV] of n training images drawn uniformly: 0.5 sum_c E|X_c / n - p_c|, X_c ~ Bin(n, p_c).
def mean_abs_dev(p):
    return sum(math.exp(math.lgamma(n + 1) - math.lgamma(x + 1) - math.lgamma(n - x + 1)
                        + x * math.log(p) + (n - x) * math.log1p(-p)) * abs(x / n - p)
               for x in range(n + 1))
print(f"expected class TV of {n} uniform draws from the training set: "
      f"{0.5 * sum(mean_abs_dev(p) for p in freq):.4f}")

print("\n| sampler | NFE | memorised | class TV | PCA-Frechet to train | to test | error, median |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    if r["solver"] == "adaptive" and r["sweep"] != "sde":
        continue
    err = r["error_q50"] if r["judged_by"] != "distribution" else "-"
    print(f"| {label(r)} | {r['nfe']} | {float(r['memorized']):.3f} | {float(r['class_tv']):.3f} | "
          f"{float(r['frechet_train']):.3g} | {float(r['frechet']):.3g} | {err} |")

top = max(int(r["nfe"]) for r in rows if r["solver"] != "adaptive")
print(f"\nclass counts of the {n} samples' nearest training images at {top} NFE "
      f"(training set: {n} x its class frequencies)")
k = len(freq)
print("| sampler | " + " | ".join(str(c) for c in range(k)) + " |")
print("|---|" + "---|" * k)
print("| training set (expected) | " + " | ".join(f"{n * p:.1f}" for p in freq) + " |")
for r in rows:
    if r["solver"] != "adaptive" and int(r["nfe"]) != top or (r["solver"] == "adaptive" and r["sweep"] != "sde"):
        continue
    c = [x["count"] for x in classes if x["sweep"] == r["sweep"] and x["solver"] == r["solver"]
         and x["nfe"] == r["nfe"] and x["noise"] == r["noise"]]
    print(f"| {label(r)} | " + " | ".join(c) + " |")
EOF
