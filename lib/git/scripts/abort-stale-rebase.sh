#!/bin/sh
# Aborts a rebase a crashed run left behind, so every operation starts from a clean state; one cut
# short while writing its own state (a full disk: no `onto`) cannot be aborted, --quit drops it.
@RESTORE@
restore_workspace || exit 1
if [ -d "$(git rev-parse --git-path rebase-merge)" ] || [ -d "$(git rev-parse --git-path rebase-apply)" ]; then git rebase --abort 2>/dev/null || git rebase --quit; fi
