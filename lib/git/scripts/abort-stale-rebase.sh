#!/bin/sh
# Aborts a rebase a crashed run left behind, so every operation starts from a clean state.
if [ -d "$(git rev-parse --git-path rebase-merge)" ] || [ -d "$(git rev-parse --git-path rebase-apply)" ]; then git rebase --abort; fi
