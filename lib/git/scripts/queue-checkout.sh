#!/bin/sh
# The merge queue's checkout, clean and detached at $1 (the branch tip), whatever a crashed batch
# left behind: a rebase or a cherry-pick in progress, a conflicted index, a dirty tree.
if [ -d "$(git rev-parse --git-path rebase-merge)" ] || [ -d "$(git rev-parse --git-path rebase-apply)" ]; then git rebase --abort 2>/dev/null || git rebase --quit; fi
if [ -e "$(git rev-parse --git-path sequencer)" ] || git rev-parse -q --verify CHERRY_PICK_HEAD >/dev/null; then git cherry-pick --quit; fi
git checkout --quiet --force --detach "$1"
