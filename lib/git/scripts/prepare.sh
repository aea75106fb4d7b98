#!/bin/sh
# Stages everything and commits when anything is staged. Runs outside the push lock.
# $1: message, $2: the trailer line or '', $3: operationId or '', $4: the trailer key.
# Prints `committed`; with nothing staged `retry` when HEAD carries this operationId, else
# `unpushed <n>` (local commits on no remote-tracking ref). On a failure `fail <step>` with git's
# exit code and stderr.
#
# `nice` alone does not reach across sessions where the kernel groups tasks per session
# (sched_autogroup); lower this session's share too. Best effort: not every system has it.
{ echo 19 > /proc/self/autogroup; } 2>/dev/null
# abort a rebase a crashed run left behind (the same test as abort-stale-rebase.sh); one cut short
# while writing its own state (a full disk) cannot be aborted: --quit drops that state, HEAD kept
if [ -d "$(git rev-parse --git-path rebase-merge)" ] || [ -d "$(git rev-parse --git-path rebase-apply)" ]; then git rebase --abort 2>/dev/null || git rebase --quit; fi || { echo "fail rebase--abort"; exit 1; }
git add --all || { s=$?; echo "fail add"; exit $s; }
git diff --cached --quiet; s=$?
if [ $s -eq 0 ]; then
  if [ -n "$3" ] && vals=$(git log -1 --format="%(trailers:key=$4,valueonly,separator=%x1f)" HEAD 2>/dev/null); then
    set -f; old=$IFS; IFS=$(printf "\037")
    for v in $vals; do [ "$v" = "$3" ] && { echo retry; exit 0; }; done
    IFS=$old
  fi
  n=$(git rev-list --count HEAD --not --remotes) || { s=$?; echo "fail rev-list"; exit $s; }
  echo "unpushed $n"; exit 0
fi
[ $s -eq 1 ] || { echo "fail diff"; exit $s; }
if [ -n "$2" ]; then
  git -c commit.gpgsign=false -c maintenance.auto=false commit --quiet --no-verify --cleanup=whitespace -m "$1" --trailer "$2" || { s=$?; echo "fail commit"; exit $s; }
else
  git -c commit.gpgsign=false -c maintenance.auto=false commit --quiet --no-verify --cleanup=whitespace -m "$1" || { s=$?; echo "fail commit"; exit $s; }
fi
echo committed
