#!/usr/bin/env bash
# Regenerate the figures shown in the README from a default (scale=small) paper run.
# Reuses the store: after one `uv run tntk experiment=paper` this takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
run=outputs/readme-run
uv run tntk experiment=paper hydra.run.dir="$run"
mkdir -p docs/figures
cp "$run"/figures/correspondence.png docs/figures/
cp "$run"/figures/correspondence.md docs/figures/
for job in typicality page_curve mp_spectrum ntk_spectrum ntk_convergence lazy_training double_descent; do
  cp "$run/$job"/figures/*.png docs/figures/
done
# the trained network over training time (its linearisation and t -> infinity drawn with it)
cp "$run"/double_descent_network/figures/double_descent_time.png docs/figures/
ls -la docs/figures
