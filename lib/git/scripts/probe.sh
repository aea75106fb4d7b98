#!/bin/sh
# Is there already a complete clone at the workspace directory? One round trip.
# $1: the workspace directory, relative to the sandbox home.
# exit 2: absent; exit 1: present but not a usable clone; exit 0: prints toplevel, origin, HEAD.
[ -e "$1" ] || exit 2
cd "$1" 2>/dev/null || exit 1
top=$(git rev-parse --show-toplevel 2>/dev/null) || exit 1
[ "$(cd "$top" && pwd -P)" = "$(pwd -P)" ] || exit 1
origin=$(git config --get remote.origin.url) || exit 1
head=$(git rev-parse --verify --quiet HEAD) || exit 1
printf "%s\n%s\n%s\n" "$top" "$origin" "$head"
