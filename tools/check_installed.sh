#!/usr/bin/env bash
# Check the installed package, not only the checkout (run by .ci/run after `make test`):
# build the sdist and the wheel, install the wheel into a fresh virtual environment, and from a
# temporary folder outside the checkout run the main commands; nothing may be written into the
# environment's site-packages, and everything must land in the temporary folder.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python3}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/painstudy-installed-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
echo "== building sdist and wheel"
"$ROOT/.venv/bin/python" -m build --sdist --wheel --outdir "$WORK/dist" "$ROOT" >"$WORK/build.log" 2>&1 \
  || { tail -30 "$WORK/build.log"; exit 1; }
ls "$WORK/dist"
echo "== installing the wheel into a fresh environment"
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
"$WORK/venv/bin/python" -m pip install --quiet -r "$ROOT/requirements.lock" 2>&1 | grep -v "^WARNING: Location" || true
"$WORK/venv/bin/python" -m pip install --quiet --no-deps "$WORK"/dist/painstudy-*.whl 2>&1 | grep -v "^WARNING: Location" || true
P="$WORK/venv/bin/painstudy"
SITE="$("$WORK/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
snapshot() { (cd "$SITE" && find . -newer "$WORK/stamp" -not -path '*/__pycache__*' -print | sort); }
# the first import compiles bytecode into __pycache__: do it before the stamp
"$WORK/venv/bin/python" -c 'import compileall, painstudy, sys; compileall.compile_dir(sys.argv[1], quiet=1)' \
  "$SITE/painstudy" >/dev/null
sleep 1; touch "$WORK/stamp"; sleep 1
mkdir "$WORK/user" && cd "$WORK/user"
export PAINSTUDY_DATA_MIRROR="${PAINSTUDY_DATA_MIRROR:-$(cd "$ROOT/.." && pwd)/shared/datasets}"
export MPLBACKEND=Agg
"$P" --version
echo "== painstudy report (the demo), from $WORK/user"
"$P" report
test -f reports/demo/manifest.json && test -f reports/demo/01_cohort.html
echo "== painstudy simulate + init + validate + report on a data file"
"$P" simulate --n 120 --seed 7 --out trial
# arm labels as a trial file would name them (init guesses modalities from the words)
sed -i 's/,integrative,/,physio + mindfulness + acupuncture,/' trial/data.csv
"$P" init mystudy --data trial/data.csv
"$P" validate mystudy
"$P" report mystudy --notebooks 01 02
test -f reports/mystudy/manifest.json
echo "== painstudy reproduce vickers2004 --out repro"
"$P" reproduce vickers2004 --out repro >/dev/null
test -f repro/manifest.json
echo "== nothing written into site-packages"
changed="$(snapshot)"
if [ -n "$changed" ]; then echo "written into site-packages:"; echo "$changed"; exit 1; fi
if grep -rl "$WORK/user\|$HOME" reports/demo/*.html reports/demo/manifest.json 2>/dev/null; then
  echo "absolute paths found in the demo report"; exit 1
fi
echo "installed-package check passed"
