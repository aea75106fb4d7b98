#!/bin/sh
# Does <cwd>/$1 resolve (symlinks followed) inside the workspace and outside its .git? A
# checked-out symlink must not lead a write elsewhere.
# exit 0: inside; 3: outside the workspace; 4: inside .git; 5: could not resolve.
root=$(pwd -P) || exit 5
t=$(realpath -m -- "$1") || exit 5
case "$t" in "$root/.git"|"$root/.git/"*) exit 4;; "$root/"*) exit 0;; *) exit 3;; esac
