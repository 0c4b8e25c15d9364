#!/bin/sh
# `worker` (default): consume the Redis streams until SIGTERM (the task in hand is released for another worker).
# `serve`: SageMaker serving mode (SageMaker starts the container with the argument "serve"; it calls :8080).
set -eu
case "${1:-worker}" in
  worker) exec framelane worker ;;
  serve) exec framelane serve --host "${FRAMELANE_SERVE_HOST:-0.0.0.0}" --port "${FRAMELANE_SERVE_PORT:-8080}" ;;
  *) exec "$@" ;;
esac
