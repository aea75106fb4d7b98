#!/bin/sh
# Functions spliced into push.sh, prepare.sh and abort-stale-rebase.sh (at @RESTORE@): the journal
# of a rebase, and the undoing of one a full disk cut short.
#
# A rebase first checks out the commit it rebases onto. Cut short by a full disk (issue 12), that
# checkout leaves the workspace half-way: files of the onto commit written, or written in part
# (git says only "unable to write file …", "could not detach HEAD"), files of HEAD deleted, HEAD
# detached or not; `git rebase --abort` then refuses (the half-written files are in its way) or
# cannot write either. The next `git add --all` would commit all of it: the other agents' files
# truncated, the agent's own deleted, under the same operation trailer, so the remote would get
# the operation twice.
#
# journal_rebase <onto>: before a rebase, records HEAD as it is (`ref: refs/heads/<b>`, or a sha)
# and the onto commit in .git/sgc-rebase; a write that fails (a full disk) returns non-zero and the
# rebase must not start. The caller empties the journal (`: > "$sgc_j"`, no space needed) once the
# rebase is done.
# restore_workspace: when the journal holds a rebase, puts HEAD back and every path a checkout
# toward onto could have touched (the paths that differ between HEAD and onto) back as HEAD has
# them; other paths (what the agent wrote since) are left alone. Runs right after a failed rebase
# and, when the disk was still too full for it, before the workspace's next git operation.
# Non-zero (git's message on stderr) when it could not finish: the journal is kept for next time.
sgc_journal() {
  if [ -d .git ]; then sgc_j=.git/sgc-rebase; else sgc_j=$(git rev-parse --git-path sgc-rebase) || return 1; fi
}
journal_rebase() {
  sgc_journal || return 1
  sgc_hd=
  [ -d .git ] && [ -f .git/HEAD ] && IFS= read -r sgc_hd < .git/HEAD
  case $sgc_hd in
    "ref: refs/"*) ;;
    *) sgc_hd=$(git symbolic-ref -q HEAD) && sgc_hd="ref: $sgc_hd" || sgc_hd=$(git rev-parse --verify -q HEAD) || return 1 ;;
  esac
  sgc_onto=
  [ -d .git ] && [ -f ".git/$1" ] && IFS= read -r sgc_onto < ".git/$1"
  case $sgc_onto in
    "" | *[!0-9a-f]*) sgc_onto=$(git rev-parse --verify -q "$1^{commit}") || return 1 ;;
  esac
  { printf '%s\n%s\n' "$sgc_hd" "$sgc_onto" > "$sgc_j"; } 2>/dev/null || {
    : > "$sgc_j" 2>/dev/null
    echo "error: could not write the rebase journal $sgc_j (no space left on device?)" >&2
    return 1
  }
}
restore_workspace() {
  sgc_journal || return 1
  [ -s "$sgc_j" ] || return 0
  { IFS= read -r sgc_hd; IFS= read -r sgc_onto; } < "$sgc_j"
  if [ -d "$(git rev-parse --git-path rebase-merge)" ] || [ -d "$(git rev-parse --git-path rebase-apply)" ]; then
    git rebase --quit || return 1
  fi
  sgc_now=
  [ -d .git ] && [ -f .git/HEAD ] && IFS= read -r sgc_now < .git/HEAD
  if [ "$sgc_now" != "$sgc_hd" ]; then
    case $sgc_hd in
      "ref: "*) git symbolic-ref HEAD "${sgc_hd#ref: }" ;;
      *) git update-ref --no-deref HEAD "$sgc_hd" ;;
    esac || return 1
  fi
  if git cat-file -e "$sgc_onto^{commit}" 2>/dev/null; then
    # the onto commit's own paths (not in HEAD): whatever is on disk there is the checkout's. Its
    # files go first (that frees the space the rest needs), then HEAD's paths the checkout changed
    # or deleted come back as HEAD has them, then the index forgets the onto commit's paths
    git diff -z --name-only --no-renames --diff-filter=A HEAD "$sgc_onto" -- | xargs -0r rm -f -- || return 1
    git diff -z --name-only --no-renames --diff-filter=a HEAD "$sgc_onto" -- |
      xargs -0r git --literal-pathspecs restore --source=HEAD --staged --worktree -- || return 1
    git diff -z --name-only --no-renames --diff-filter=A HEAD "$sgc_onto" -- |
      xargs -0r git --literal-pathspecs rm -q --cached --ignore-unmatch -- || return 1
  else
    git reset -q --hard && git clean -fdq || return 1
  fi
  : > "$sgc_j"
}
