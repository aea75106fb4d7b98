#!/bin/sh
# The merge queue's staging (push.mode queue) as one sandbox command: prepare.sh's commit, then
# the push of that commit to the operation's queue ref. One command instead of three (prepare,
# rev-parse, push): on a machine where every process start counts, each costs a spawn by the
# worker. All of it runs at the lowest CPU share (prepare.sh lowers this session's autogroup):
# staging runs beside every other agent's, and the worker that drives the queue (and the queue's
# own batch, which everyone waits for) keeps the CPU.
# $1: message, $2: the trailer line, $3: operationId, $4: the trailer key, $5: `head` (prepare.sh's
# own five), $6: the queue ref, the rest: `-c` options for the push.
# stdout: prepare.sh's line (`unpushed <n>` or `fail <step>` end here), then `pushed <sha>` or
# `fail <step>` with git's exit code and stderr (the push's porcelain output goes to stderr).
ref=$6
res=$(
@PREPARE@
); s=$?
printf "%s\n" "$res"
case $res in
  "committed "*|"retry "*) ;;
  *) exit $s ;;
esac
sha=${res#* }
shift 6
case $sha in "" | *[!0-9a-f]*) sha=$(git rev-parse HEAD) || { s=$?; echo "fail rev-parse"; exit $s; } ;; esac
git "$@" push --quiet --porcelain --force origin "$sha:$ref" >&2 || { s=$?; echo "fail push"; exit $s; }
echo "pushed $sha"
