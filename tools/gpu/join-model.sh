#!/usr/bin/env bash
# Run HERE: reassembles the model that tools/gpu/train.sh returned in parts into models/.
#   tools/gpu/join-model.sh /work/.device/<files_at folder>
set -euo pipefail
cd "$(dirname "$0")/../.."
cat "$1"/model.tar.part-* | tar -x -C models/
ls -la models/
