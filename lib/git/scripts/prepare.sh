#!/bin/sh
# Stages everything and commits when anything is staged. Runs outside the push lock.
# $1: message, $2: the trailer line or '', $3: operationId or '', $4: the trailer key,
# $5: `head` to have `committed` and `retry` followed by HEAD's sha (the merge queue's staging
# pushes that commit: one command instead of a rev-parse of its own).
# Prints `retry` when HEAD carries this operationId (nothing staged: a retry pushes what it
# committed), else `committed`, or with nothing staged `unpushed <n>` (local commits on no
# remote-tracking ref). On a failure `fail <step>` with git's
# exit code and stderr.
#
# `nice` alone does not reach across sessions where the kernel groups tasks per session
# (sched_autogroup); lower this session's share too. Best effort: not every system has it.
{ echo 19 > /proc/self/autogroup; } 2>/dev/null
@RESTORE@
# a rebase a full disk cut short in an earlier push (restore.sh): undone before anything is staged
restore_workspace || { echo "fail restore"; exit 1; }
# abort a rebase a crashed run left behind (the same test as abort-stale-rebase.sh); one cut short
# while writing its own state (a full disk) cannot be aborted: --quit drops that state, HEAD kept.
# A clone's own .git directory answers without a git process (git-path names the same paths
# there); anything else (a worktree's .git file) asks git, both paths at once.
if [ -d .git ]; then rm_=.git/rebase-merge; ra=.git/rebase-apply; else
  gp=$(git rev-parse --git-path rebase-merge --git-path rebase-apply 2>/dev/null)
  rm_=${gp%%"
"*}; ra=${gp#*"
"}
fi
if [ -n "$rm_" ] && { [ -d "$rm_" ] || [ -d "$ra" ]; }; then git rebase --abort 2>/dev/null || git rebase --quit; fi || { echo "fail rebase--abort"; exit 1; }
# hs=HEAD's sha, read by the shell where HEAD is a clone's loose ref or detached (no git process);
# empty otherwise (a packed ref, another ref backend): the caller asks rev-parse then
head_sha() {
  hs=
  [ -f .git/HEAD ] && IFS= read -r hd < .git/HEAD || return 0
  case $hd in
    ("ref: refs/"*) [ -f ".git/${hd#ref: }" ] && IFS= read -r hd < ".git/${hd#ref: }" || return 0 ;;
  esac
  case $hd in (*[!0-9a-f]* | "") ;; (*) hs=$hd ;; esac
}
# HEAD already carrying this operation is a retry: it pushes what the operation committed, and
# whatever was written since stays uncommitted (the agent's, for its next commit)
if [ -n "$3" ] && vals=$(git log -1 --format="%(trailers:key=$4,valueonly,separator=%x1f)" HEAD 2>/dev/null); then
  set -f; old=$IFS; IFS=$(printf "\037")
  for v in $vals; do [ "$v" = "$3" ] && { if [ "$5" = head ]; then head_sha; echo "retry $hs"; else echo retry; fi; exit 0; }; done
  IFS=$old; set +f
fi
git add --all || { s=$?; echo "fail add"; exit $s; }
git diff --cached --quiet; s=$?
if [ $s -eq 0 ]; then
  n=$(git rev-list --count HEAD --not --remotes) || { s=$?; echo "fail rev-list"; exit $s; }
  echo "unpushed $n"; exit 0
fi
[ $s -eq 1 ] || { echo "fail diff"; exit $s; }
if [ -n "$2" ]; then
  git -c commit.gpgsign=false -c maintenance.auto=false commit --quiet --no-verify --cleanup=whitespace -m "$1" --trailer "$2" || { s=$?; echo "fail commit"; exit $s; }
else
  git -c commit.gpgsign=false -c maintenance.auto=false commit --quiet --no-verify --cleanup=whitespace -m "$1" || { s=$?; echo "fail commit"; exit $s; }
fi
if [ "$5" = head ]; then head_sha; echo "committed $hs"; else echo committed; fi
