#!/usr/bin/env bash
# seeds.sh GOLDEN DIR: write the seed corpus of the C codec's fuzz target: every frame of the golden vectors
# (internal/wire/testdata/golden.txt), after its length field, one file each.
set -euo pipefail
golden=$1
dir=$2
mkdir -p "$dir"
n=0
grep -v '^#' "$golden" | sed -n 's/.* = \([0-9a-f]*\)$/\1/p' | while read -r hex; do
    n=$((n + 1))
    perl -e 'print pack("H*", $ARGV[0])' "${hex:8}" >"$dir/golden-$n"
done
