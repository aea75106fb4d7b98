#!/bin/sh
# Does <cwd>/$1 resolve (symlinks followed) inside the workspace and outside its .git? A
# checked-out symlink must not lead a write elsewhere.
# exit 0: inside, and prints the size in bytes of the regular file there now (-1: none), which the
# read cap and the disk quota are checked against; 3: outside the workspace; 4: inside .git;
# 5: could not resolve.
root=$(pwd -P) || exit 5
t=$(realpath -m -- "$1") || exit 5
case "$t" in "$root/.git"|"$root/.git/"*) exit 4;; "$root/"*) ;; *) exit 3;; esac
if [ -f "$t" ]; then stat -c %s -- "$t" || exit 5; else echo -1; fi
