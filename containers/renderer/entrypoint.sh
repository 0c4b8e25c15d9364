#!/bin/sh
# `worker` (default): consume the Redis streams until SIGTERM (the task in hand is released for another worker).
# `serve`: SageMaker serving mode (SageMaker starts the container with the argument "serve").
set -eu
case "${1:-worker}" in
  worker) exec framelane worker ;;
  serve) exec framelane serve --host 0.0.0.0 --port 8080 ;;
  *) exec "$@" ;;
esac
