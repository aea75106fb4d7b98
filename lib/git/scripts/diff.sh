#!/bin/sh
# Diff of the working tree against HEAD, untracked files included (shown as new files). They are
# marked intent-to-add in a throw-away copy of the index (GIT_INDEX_FILE), so a diff never
# changes what status reports. "$@": optional pathspecs (already validated).
set -e
gd=$(git rev-parse --absolute-git-dir)
tmp="$gd/sgc-diff-index.$$"
trap 'rm -f "$tmp"' EXIT
if [ -f "$gd/index" ]; then cp "$gd/index" "$tmp"; fi
GIT_INDEX_FILE="$tmp" git add --all --intent-to-add
GIT_INDEX_FILE="$tmp" git diff --no-color --no-ext-diff HEAD -- "$@"
