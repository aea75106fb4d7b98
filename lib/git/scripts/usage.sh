#!/bin/sh
# What a workspace holds, .git included: bytes (apparent size, as written) and files (anything but
# directories). Two lines; the quota (limits.workspaceDiskMaxBytes, workspaceMaxFiles) is checked
# against them after a clone or a pull.
set -e
du -sb . | cut -f1
find . ! -type d | wc -l
