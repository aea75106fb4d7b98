#!/bin/sh
# Body of the credential helper git runs as `f get|store|erase` (see credentials.ts). It answers
# `get` only when git asks about the remote the token belongs to: protocol, host and path (git
# sends the path because credential.useHttpPath is on) must match GIT_SGC_PROTOCOL,
# GIT_SGC_HOST and the segment prefix GIT_SGC_PATH. Anything else (another host, a redirect
# elsewhere, another path) gets no answer, and git fails without sending credentials.
test "$1" = get || return 0
p= h= q=
while IFS= read -r l; do
  case $l in
    protocol=*) p=${l#protocol=} ;;
    host=*) h=${l#host=} ;;
    path=*) q=${l#path=} ;;
    '') break ;;
  esac
done
[ -n "$GIT_SGC_TOKEN" ] && [ -n "$GIT_SGC_PROTOCOL" ] && [ -n "$GIT_SGC_HOST" ] || return 0
[ "$p" = "$GIT_SGC_PROTOCOL" ] || return 0
[ "$(printf '%s' "$h" | tr '[:upper:]' '[:lower:]')" = "$GIT_SGC_HOST" ] || return 0
case "/$q/" in "${GIT_SGC_PATH:-/}"*) ;; *) return 0 ;; esac
echo "username=${GIT_SGC_USERNAME:-x-access-token}"
echo "password=$GIT_SGC_TOKEN"
