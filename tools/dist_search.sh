#!/usr/bin/env bash
# tools/dist_search.sh CONFIG GPUS --checkpoint SUPERNET.pth [search.py args...]
# One multi-rank search worker (GPUS ranks on this node; rank 0 talks to the history).
# Several workers, on one or several machines, share one search when given the same
# history: add --storage postgresql+psycopg://USER:PASSWORD@DBHOST:5432/DB (or set
# STORAGE=...) to each worker's command; each evaluates other candidates and all stop at
# train_cfg.num_candidates records.
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
STORAGE_ARGS=()
if [ -n "${STORAGE:-}" ]; then
    STORAGE_ARGS=(--storage "$STORAGE")
fi
PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
python -m torch.distributed.run \
    --nnodes=$NNODES --node_rank=$NODE_RANK --master_addr=$MASTER_ADDR \
    --nproc_per_node=$GPUS --master_port=$PORT \
    "$(dirname "$0")/search.py" "$CONFIG" --launcher pytorch "${STORAGE_ARGS[@]}" "${@:3}"
