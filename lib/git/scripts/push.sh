#!/bin/sh
# One push attempt, run inside the push lock as a single sandbox command (the lock is held for
# the git work only, not for a round trip per step).
# fetch origin/<branch> → `landed <sha>` when a commit there already carries this operation's
# trailer (the workspace is brought up to date, best effort) → rebase onto it (a no-op when HEAD
# already contains it) → push → `ok`.
# $1: branch, $2: operationId or '', $3: trailer key, the rest: `-c` options for the commands
# that talk to the remote.
# Each rebase is journalled first (restore.sh); one that fails is undone (restore_workspace), and
# stdout is `conflict` + NUL-separated files (a full disk's stderr tells it apart from a conflict);
# any other failure prints `fail <step>` and exits with git's code, its stderr passed on.
set -f
@RESTORE@
b=$1; op=$2; key=$3; shift 3
ref="refs/remotes/origin/$b"
# inside the lock every process counts: no auto-maintenance (fetch, rebase) or notes copy (rebase)
quick="-c maintenance.auto=false -c notes.rewrite.rebase=false"
remote=1
if ! err=$(git -c maintenance.auto=false -c fetch.writeFetchHead=false "$@" fetch --quiet --no-tags origin "+refs/heads/$b:$ref" 2>&1); then
  case $err in
    # a stale tracking ref would make a deleted remote branch look present
    *"ouldn't find remote ref"*) git update-ref -d "$ref"; remote=0 ;;
    *) printf "%s\n" "$err" >&2; echo "fail fetch"; exit 1 ;;
  esac
fi
if [ $remote = 1 ] && [ -n "$op" ]; then
  us=$(printf "\037")
  log=$(git log --fixed-strings --grep="$op" --format="%H${us}%(trailers:key=$key,valueonly,separator=%x1f)" "$ref" --) || { echo "fail log"; exit 1; }
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    sha=${line%%"$us"*}; rest=${line#*"$us"}
    old=$IFS; IFS=$us
    for v in $rest; do
      if [ "$v" = "$op" ]; then
        IFS=$old
        # the local copy of the landed commit is dropped by the rebase as already upstream; best
        # effort: one that fails is undone (or, the disk still full, before the next operation)
        if journal_rebase "$ref" 2>/dev/null; then
          if git $quick rebase --quiet "$ref" >/dev/null 2>&1; then : > "$sgc_j"; else restore_workspace >/dev/null 2>&1; fi
        fi
        echo "landed $sha"; exit 0
      fi
    done
    IFS=$old
  done <<EOF
$log
EOF
fi
# a no-op when HEAD already contains the remote branch (cheaper than asking merge-base first)
if [ $remote = 1 ]; then
  journal_rebase "$ref" || { echo "fail journal"; exit 1; }
  out=$(git -c commit.gpgsign=false $quick rebase --quiet "$ref" 2>&1); s=$?
  if [ $s -ne 0 ]; then
    printf "conflict\n"
    git diff --name-only --diff-filter=U -z
    printf "%s\n" "$out" >&2
    # back to where it was (a conflict's or a full disk's half-done checkout alike)
    restore_workspace >/dev/null 2>&1 || echo "the workspace is restored before its next operation" >&2
    exit $s
  fi
  : > "$sgc_j"
fi
git "$@" push --quiet --porcelain origin "HEAD:refs/heads/$b" >&2 || { s=$?; echo "fail push"; exit $s; }
echo ok
